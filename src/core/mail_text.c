/*
 * mail_text.c -- reading RFC 5322 messages and MIME parts (see mail_text.h).
 */
#include "mail_text.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

bool
mail_is_space(char c)
{
    return c == ' ' || c == '\t';
}

bool
mail_next_line(mail_span *rest, mail_span *line)
{
    if (rest->n == 0)
        return false;
    const char *end = memchr(rest->p, '\n', rest->n);
    size_t n = end ? (size_t)(end - rest->p) : rest->n;
    line->p = rest->p;
    line->n = n > 0 && rest->p[n - 1] == '\r' ? n - 1 : n;
    size_t used = end ? n + 1 : n;
    rest->p += used;
    rest->n -= used;
    return true;
}

void
mail_split_headers(mail_span all, mail_span *headers, mail_span *body)
{
    mail_span rest = all, line;
    headers->p = all.p;
    while (mail_next_line(&rest, &line)) {
        if (line.n == 0) {
            headers->n = (size_t)(line.p - all.p);
            *body = rest;
            return;
        }
    }
    headers->n = all.n; /* no body */
    body->p = all.p + all.n;
    body->n = 0;
}

bool
mail_header_get(mail_span headers, const char *name, char *out, size_t out_bytes)
{
    assert(out_bytes > 0);
    size_t name_len = strlen(name), used = 0;
    mail_span rest = headers, line;
    bool found = false;
    out[0] = '\0';
    while (mail_next_line(&rest, &line)) {
        if (found) {
            if (line.n == 0 || !mail_is_space(line.p[0]))
                break;
        } else {
            if (line.n <= name_len || strncasecmp(line.p, name, name_len) != 0)
                continue;
            size_t i = name_len;
            while (i < line.n && mail_is_space(line.p[i]))
                i++;
            if (i >= line.n || line.p[i] != ':')
                continue;
            found = true;
            line.p += i + 1;
            line.n -= i + 1;
        }
        while (line.n > 0 && mail_is_space(line.p[0])) {
            line.p++;
            line.n--;
        }
        while (line.n > 0 && mail_is_space(line.p[line.n - 1]))
            line.n--;
        if (line.n == 0)
            continue;
        if (used > 0 && used + 1 < out_bytes)
            out[used++] = ' ';
        size_t take = line.n < out_bytes - 1 - used ? line.n : out_bytes - 1 - used;
        memcpy(out + used, line.p, take);
        used += take;
        out[used] = '\0';
    }
    return found;
}

bool
mail_param_get(const char *value, const char *name, char *out, size_t out_bytes)
{
    size_t name_len = strlen(name);
    for (const char *p = strchr(value, ';'); p != NULL; p = strchr(p + 1, ';')) {
        const char *k = p + 1;
        while (mail_is_space(*k))
            k++;
        if (strncasecmp(k, name, name_len) != 0)
            continue;
        const char *v = k + name_len;
        while (mail_is_space(*v))
            v++;
        if (*v != '=')
            continue;
        v++;
        while (mail_is_space(*v))
            v++;
        size_t n;
        if (*v == '"') {
            v++;
            const char *end = strchr(v, '"');
            n = end ? (size_t)(end - v) : strlen(v);
        } else {
            n = strcspn(v, "; \t");
        }
        if (n == 0 || n >= out_bytes)
            return false;
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

bool
mail_type_is(const char *value, const char *type)
{
    size_t n = strlen(type);
    if (strncasecmp(value, type, n) != 0)
        return false;
    return type[n - 1] == '/' || value[n] == '\0' || value[n] == ';' || mail_is_space(value[n]);
}

bool
mail_is_delimiter(mail_span line, const char *boundary, size_t boundary_len, bool *closing)
{
    if (line.n < boundary_len + 2 || line.p[0] != '-' || line.p[1] != '-' ||
        memcmp(line.p + 2, boundary, boundary_len) != 0)
        return false;
    size_t i = boundary_len + 2;
    *closing = line.n >= i + 2 && line.p[i] == '-' && line.p[i + 1] == '-';
    if (*closing)
        i += 2;
    while (i < line.n && mail_is_space(line.p[i]))
        i++;
    return i == line.n;
}
