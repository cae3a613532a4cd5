/*
 * roles.h -- who may do what: the role matrix of DESIGN.md §5, as data.
 *
 * Every HTTP route and CLI command names one permission; roles_allow answers
 * from the table. Default deny: a role/permission pair not in the table is refused.
 */
#ifndef PATRON_ROLES_H
#define PATRON_ROLES_H

#include <stdbool.h>

typedef enum role {
    ROLE_NONE = 0,
    ROLE_ADMIN,
    ROLE_MANAGER,
    ROLE_SUPERVISOR,
    ROLE_AGENT,
    ROLE_ANALYST,
    ROLE_INTEGRATION,
    ROLE_MEMBER,
    ROLE_COUNT
} role;

typedef enum permission {
    PERM_PUBLIC = 0,        /* no authentication (health, login) */
    PERM_AUTHENTICATED,     /* any signed-in caller (who am I) */
    PERM_MEMBERS_READ,
    PERM_MEMBERS_WRITE,
    PERM_MEMBERS_ERASE,     /* GDPR erasure: irreversible, so admin and manager only */
    PERM_PURCHASES_WRITE,   /* post purchases, refunds; spend, holds */
    PERM_POINTS_ADJUST,
    PERM_COMPENSATION_PROPOSE,
    PERM_APPROVALS_DECIDE,
    PERM_TICKETS_WORK,
    PERM_TICKETS_CREATE,    /* open tickets, relay a chat's customer side, count votes: staff who work tickets and integrations */
    PERM_TASKS_WORK,        /* staff follow-ups (tasks): staff who work with customers */
    PERM_PROGRAM_MANAGE,
    PERM_ANALYTICS_READ,
    PERM_AUDIT_READ,
    PERM_STAFF_MANAGE,      /* staff, API keys, settings */
    PERM_KB_WRITE,          /* knowledge base articles: those who lead the agents */
    PERM_PORTAL,            /* the member portal (/v1/portal): a signed-in member, on their own record only */
    PERM_COUNT
} permission;

/* Whether a role holds a permission. */
bool roles_allow(role r, permission p);

/* Parses a role name ("admin" ...); ROLE_NONE when unknown. */
role roles_parse(const char *name);

/* The name of a role ("admin" ...). */
const char *roles_name(role r);

/* Whether staff accounts (as opposed to API keys or members) may hold the role. */
bool roles_is_staff(role r);

#endif
