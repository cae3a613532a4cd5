/*
 * message_id.c -- the Message-ID of an outbox row, and back (see outbox.h).
 *
 * "<patron.ID@DOMAIN>": derived from the row id alone, so every retry of a
 * message carries the same one (mail clients fold the copies) and a bounce
 * that quotes it leads back to the row without a lookup table.
 */
#include "outbox.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MESSAGE_ID_PREFIX "patron."

void
outbox_message_id(int64_t id, const char *domain, char *out, size_t out_bytes)
{
    snprintf(out, out_bytes, "<" MESSAGE_ID_PREFIX "%lld@%s>", (long long)id, domain);
}

int64_t
outbox_message_id_parse(const char *message_id)
{
    if (message_id == NULL)
        return 0;
    const char *p = message_id;
    if (*p == '<')
        p++;
    size_t prefix_len = strlen(MESSAGE_ID_PREFIX);
    if (strncmp(p, MESSAGE_ID_PREFIX, prefix_len) != 0)
        return 0;
    p += prefix_len;
    int64_t id = 0;
    const char *digits = p;
    for (; *p >= '0' && *p <= '9'; p++) {
        int digit = *p - '0';
        if (id > (INT64_MAX - digit) / 10)
            return 0; /* past int64: not one of ours */
        id = id * 10 + digit;
    }
    /* Digits, no leading zero, then "@" and a domain; a closing '>' only after an opening one. */
    if (p == digits || *digits == '0' || *p != '@' || p[1] == '\0' || p[1] == '>')
        return 0;
    const char *close = strchr(p, '>');
    bool bracketed = message_id[0] == '<';
    if (bracketed != (close != NULL) || (close != NULL && close[1] != '\0') || strpbrk(p, " \t<") != NULL)
        return 0;
    return id;
}
