/*
 * mail_in.h -- reading a customer's email: the headers a service desk needs
 * and the words they wrote.
 *
 * A message piped in by the mail server (`patron mail-in`) is read into a
 * mail_in_message: the sender (address and display name), the subject with
 * RFC 2047 encoded words decoded to UTF-8, Message-ID, In-Reply-To and
 * References, and the text: the first text/plain part (in a multipart, at
 * any depth up to MAIL_IN_DEPTH_MAX; attachments skipped), its
 * quoted-printable or base64 undone, Latin-1 / Windows-1252 turned into
 * UTF-8, format=flowed lines joined, and the quoted reply below it removed
 * ("On ... wrote:", Outlook's "-----Original Message-----" or "From:" block,
 * lines starting with '>'). Like core/dsn.h it is forgiving about form (LF
 * or CRLF, folding, odd case, an mbox "From " line) and strict about bounds.
 * Pure C: no I/O; the only allocation is the text, handed to the caller.
 */
#ifndef PATRON_MAIL_IN_H
#define PATRON_MAIL_IN_H

#include "bounds.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct mail_in_message {
    char from_address[EMAIL_BYTES_MAX + 1]; /* as written ("" when none or too long) */
    char from_name[MAIL_IN_NAME_BYTES_MAX]; /* the display name, decoded, unquoted; "" when none */
    char subject[MAIL_HEADER_BYTES_MAX + 1]; /* decoded UTF-8, one line; cut at a character when longer */
    char message_id[MAIL_MESSAGE_ID_BYTES_MAX];  /* "<id@host>"; "" when none */
    char in_reply_to[MAIL_MESSAGE_ID_BYTES_MAX]; /* the first id of In-Reply-To; "" when none */
    char references[MAIL_IN_REFERENCES_BYTES_MAX]; /* References, unfolded (ids, oldest first) */
    bool auto_submitted; /* Auto-Submitted other than "no" (an out-of-office reply, a bounce) */
    char *text;          /* malloc'd, valid UTF-8, LF line ends, quoted reply removed; "" when no text part */
    size_t text_bytes;
} mail_in_message;

typedef enum mail_in_status {
    MAIL_IN_OK = 0,    /* out is filled; release it with mail_in_release */
    MAIL_IN_TOO_LARGE, /* len passes MAIL_IN_BYTES_MAX: nothing read */
} mail_in_status;

/* Reads the message of len bytes (not NUL-terminated) into out. Aborts when
 * out of memory (the text is at most len bytes, times two for Latin-1). */
mail_in_status mail_in_parse(const char *message, size_t len, mail_in_message *out);

/* Frees what mail_in_parse allocated (the text). */
void mail_in_release(mail_in_message *m);

/* Decodes the RFC 2047 encoded words of a header value (UTF-8, ISO-8859-1
 * or Windows-1252, "B" or "Q"; the space between two encoded words
 * dropped) into out, cut at a character to fit; invalid UTF-8 and control
 * characters are dropped. Returns the bytes written (out is NUL-terminated). */
size_t mail_in_decode_words(const char *value, char *out, size_t out_bytes);

/* Removes the quoted reply from text in place: from a line "On ... wrote:"
 * (also wrapped over two lines), "-----Original Message-----" or an Outlook
 * "From:" block under a rule, down; and every line starting with '>'.
 * Trailing blank lines go too. When nothing would be left, text stays. */
void mail_in_strip_quoted(char *text);

/* The ticket token of a subject holding "[#T-TOKEN]" (TOKEN: TICKET_TOKEN_CHARS
 * of base32, any case) into out, upper-cased; false when there is none. */
bool mail_in_ticket_token(const char *subject, char *out, size_t out_bytes);

/* Takes the next "<id>" of a list of ids (In-Reply-To, References) from
 * *cursor into out, advancing *cursor; false at the end. Ids too long for out
 * are skipped. */
bool mail_in_next_id(const char **cursor, char *out, size_t out_bytes);

#endif
