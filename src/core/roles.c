/* roles.c -- the role matrix of DESIGN.md §5. Change the table, not the code. */
#include "roles.h"

#include <assert.h>
#include <string.h>

#define A (1u << ROLE_ADMIN)
#define M (1u << ROLE_MANAGER)
#define S (1u << ROLE_SUPERVISOR)
#define G (1u << ROLE_AGENT)
#define N (1u << ROLE_ANALYST)
#define I (1u << ROLE_INTEGRATION)
#define MEMBER (1u << ROLE_MEMBER)
#define STAFF_ALL (A | M | S | G | N)

/* Rows are permissions, bits are roles. Member access ("own") is the portal's:
 * its routes take the member from the session, never from the path, so
 * members hold PERM_PORTAL and nothing else (no staff route serves them), and
 * PERM_PORTAL is theirs alone (staff and keys have the /v1/members routes). */
static const unsigned MATRIX[PERM_COUNT] = {
    [PERM_PUBLIC] = ~0u,
    [PERM_AUTHENTICATED] = STAFF_ALL | I,
    [PERM_MEMBERS_READ] = STAFF_ALL | I,
    [PERM_MEMBERS_WRITE] = A | M | S | G | I,
    [PERM_MEMBERS_ERASE] = A | M,
    [PERM_PURCHASES_WRITE] = A | I,
    [PERM_POINTS_ADJUST] = A | M,
    [PERM_COMPENSATION_PROPOSE] = A | M | S | G,
    [PERM_APPROVALS_DECIDE] = A | M | S,
    [PERM_TICKETS_WORK] = A | M | S | G,
    [PERM_TICKETS_CREATE] = A | M | S | G | I,
    [PERM_TASKS_WORK] = A | M | S | G,
    [PERM_PROGRAM_MANAGE] = A | M,
    [PERM_ANALYTICS_READ] = A | M | S | N,
    [PERM_AUDIT_READ] = A | M,
    [PERM_STAFF_MANAGE] = A,
    [PERM_KB_WRITE] = A | M | S,
    [PERM_PORTAL] = MEMBER,
};

static const char *const NAMES[ROLE_COUNT] = {
    [ROLE_NONE] = "none",         [ROLE_ADMIN] = "admin",     [ROLE_MANAGER] = "manager",
    [ROLE_SUPERVISOR] = "supervisor", [ROLE_AGENT] = "agent", [ROLE_ANALYST] = "analyst",
    [ROLE_INTEGRATION] = "integration", [ROLE_MEMBER] = "member",
};

bool
roles_allow(role r, permission p)
{
    assert(p >= 0 && p < PERM_COUNT);
    if (r <= ROLE_NONE || r >= ROLE_COUNT)
        return p == PERM_PUBLIC;
    return (MATRIX[p] >> r) & 1u;
}

role
roles_parse(const char *name)
{
    if (name == NULL)
        return ROLE_NONE;
    for (int r = ROLE_ADMIN; r < ROLE_COUNT; r++)
        if (strcmp(NAMES[r], name) == 0)
            return (role)r;
    return ROLE_NONE;
}

const char *
roles_name(role r)
{
    return r >= 0 && r < ROLE_COUNT ? NAMES[r] : "none";
}

bool
roles_is_staff(role r)
{
    return r >= ROLE_ADMIN && r <= ROLE_ANALYST;
}
