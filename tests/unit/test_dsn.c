/* test_dsn.c -- reading bounces as mail servers write them: Postfix (CRLF,
 * text/rfc822-headers), Exim (LF, folded headers, message/rfc822, odd case),
 * a delayed soft bounce, a reply that is no DSN, and the size bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/dsn.h"

/* Postfix's bounce, every line ending CRLF (as SMTP carries it). */
static const char POSTFIX[] =
    "Return-Path: <>\r\n"
    "Received: by mail.shop.example (Postfix) id 3F2A1C0123; Tue, 24 Nov 2026 10:00:05 +0000 (UTC)\r\n"
    "Date: Tue, 24 Nov 2026 10:00:05 +0000 (UTC)\r\n"
    "From: MAILER-DAEMON@mail.shop.example (Mail Delivery System)\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "To: bounces@shop.example\r\n"
    "Auto-Submitted: auto-replied\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
    "\tboundary=\"3F2A1C0123.1795514405/mail.shop.example\"\r\n"
    "Message-Id: <20261124100005.3F2A1C0124@mail.shop.example>\r\n"
    "\r\n"
    "This is a MIME-encapsulated message.\r\n"
    "\r\n"
    "--3F2A1C0123.1795514405/mail.shop.example\r\n"
    "Content-Description: Notification\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "This is the mail system at host mail.shop.example.\r\n"
    "\r\n"
    "I'm sorry to have to inform you that your message could not\r\n"
    "be delivered to one or more recipients.\r\n"
    "\r\n"
    "<Jane.Doe@Example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1\r\n"
    "    <Jane.Doe@Example.com>: Recipient address rejected: User unknown\r\n"
    "\r\n"
    "--3F2A1C0123.1795514405/mail.shop.example\r\n"
    "Content-Description: Delivery report\r\n"
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; mail.shop.example\r\n"
    "X-Postfix-Queue-ID: 3F2A1C0123\r\n"
    "X-Postfix-Sender: rfc822; bounces@shop.example\r\n"
    "Arrival-Date: Tue, 24 Nov 2026 10:00:01 +0000 (UTC)\r\n"
    "\r\n"
    "Final-Recipient: rfc822; Jane.Doe@Example.com\r\n"
    "Original-Recipient: rfc822;Jane.Doe@Example.com\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Remote-MTA: dns; mx.example.com\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <Jane.Doe@Example.com>: Recipient address\r\n"
    "    rejected: User unknown\r\n"
    "\r\n"
    "--3F2A1C0123.1795514405/mail.shop.example\r\n"
    "Content-Description: Undelivered Message Headers\r\n"
    "Content-Type: text/rfc822-headers\r\n"
    "\r\n"
    "Return-Path: <bounces@shop.example>\r\n"
    "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
    "From: \"The Shop\" <news@shop.example>\r\n"
    "To: Jane.Doe@Example.com\r\n"
    "Subject: =?UTF-8?B?Wm/DqQ==?=\r\n"
    "Message-ID: <patron.42@shop.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "\r\n"
    "--3F2A1C0123.1795514405/mail.shop.example--\r\n";

/* Exim's, with bare LF, lower-case names, a folded Content-Type, an mbox
 * "From " line from the pipe, and the whole message returned. */
static const char EXIM[] =
    "From MAILER-DAEMON Tue Nov 24 10:00:05 2026\n"
    "Return-path: <>\n"
    "Auto-Submitted: auto-replied\n"
    "From: Mail Delivery System <Mailer-Daemon@mx.shop.example>\n"
    "To: bounces@shop.example\n"
    "content-type: multipart/report;\n"
    "  report-type=\"delivery-status\";\n"
    "  boundary=1795514405-eximdsn-1804289383\n"
    "MIME-Version: 1.0\n"
    "Subject: Mail delivery failed: returning message to sender\n"
    "Message-Id: <E1abc-0001@mx.shop.example>\n"
    "\n"
    "--1795514405-eximdsn-1804289383\n"
    "Content-type: text/plain; charset=us-ascii\n"
    "\n"
    "This message was created automatically by mail delivery software.\n"
    "\n"
    "--1795514405-eximdsn-1804289383\n"
    "Content-type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.shop.example\n"
    "\n"
    "ACTION: Failed\n"
    "Final-Recipient: rfc822;nobody@example.org\n"
    "Status: 5.0.0\n"
    "Remote-MTA: dns; mx.example.org\n"
    "Diagnostic-Code: smtp; 550 No such user here\n"
    "\n"
    "--1795514405-eximdsn-1804289383\n"
    "Content-type: message/rfc822\n"
    "\n"
    "Date: Tue, 24 Nov 2026 10:00:00 +0000\n"
    "From: news@shop.example\n"
    "To: nobody@example.org\n"
    "Message-ID:\n"
    " <patron.7@shop.example>\n"
    "Content-Type: multipart/alternative; boundary=\"=_patron_x\"\n"
    "\n"
    "--=_patron_x\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Action: delivered\n"
    "Status: 2.0.0\n"
    "\n"
    "--=_patron_x--\n"
    "\n"
    "--1795514405-eximdsn-1804289383--\n";

/* A delay warning: 4.x.x, action delayed; the original only by In-Reply-To-less
 * headers part named message/global-headers. */
static const char DELAYED[] =
    "From: MAILER-DAEMON@mail.shop.example\n"
    "Subject: Delayed Mail (still being retried)\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
    "\n"
    "--B\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mail.shop.example\n"
    "\n"
    "Final-Recipient: rfc822; busy@example.net\n"
    "Action: delayed\n"
    "Status: 4.2.2\n"
    "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\n"
    "Will-Retry-Until: Sat, 28 Nov 2026 10:00:00 +0000\n"
    "\n"
    "--B\n"
    "Content-Type: text/rfc822-headers\n"
    "\n"
    "Message-ID: <patron.43@shop.example>\n"
    "\n"
    "--B--\n";

/* A person's reply: no DSN, but In-Reply-To names our message. */
static const char REPLY[] =
    "From: Jane <jane@example.com>\r\n"
    "To: news@shop.example\r\n"
    "Subject: Re: Hello\r\n"
    "In-Reply-To: <patron.42@shop.example>\r\n"
    "References: <other@example.com> <patron.42@shop.example>\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "Thanks!\r\n";

static void
test_postfix_hard_bounce(void **state)
{
    (void)state;
    dsn_report r;
    assert_int_equal(dsn_parse(POSTFIX, strlen(POSTFIX), &r), DSN_OK);
    assert_true(r.is_dsn);
    assert_string_equal(r.action, "failed");
    assert_string_equal(r.status, "5.1.1");
    assert_true(r.hard);
    assert_string_equal(r.recipient, "Jane.Doe@Example.com");
    assert_string_equal(r.message_id, "<patron.42@shop.example>");
    assert_string_equal(r.diagnostic, "550 5.1.1 <Jane.Doe@Example.com>: Recipient address rejected: User unknown");
}

static void
test_exim_hard_bounce(void **state)
{
    (void)state;
    dsn_report r;
    assert_int_equal(dsn_parse(EXIM, strlen(EXIM), &r), DSN_OK);
    assert_true(r.is_dsn);
    assert_string_equal(r.action, "failed");
    assert_string_equal(r.status, "5.0.0");
    assert_true(r.hard);
    assert_string_equal(r.recipient, "nobody@example.org");
    assert_string_equal(r.message_id, "<patron.7@shop.example>");
    assert_string_equal(r.diagnostic, "550 No such user here");
}

static void
test_soft_bounce(void **state)
{
    (void)state;
    dsn_report r;
    assert_int_equal(dsn_parse(DELAYED, strlen(DELAYED), &r), DSN_OK);
    assert_true(r.is_dsn);
    assert_string_equal(r.action, "delayed");
    assert_string_equal(r.status, "4.2.2");
    assert_false(r.hard);
    assert_string_equal(r.recipient, "busy@example.net");
    assert_string_equal(r.message_id, "<patron.43@shop.example>");
}

static void
test_not_a_dsn(void **state)
{
    (void)state;
    dsn_report r;
    assert_int_equal(dsn_parse(REPLY, strlen(REPLY), &r), DSN_OK);
    assert_false(r.is_dsn);
    assert_false(r.hard);
    assert_string_equal(r.action, "");
    assert_string_equal(r.message_id, "<patron.42@shop.example>");
    /* Only References: its first id. */
    static const char REFS[] = "Subject: Re\nReferences: <a@x> <b@y>\n\nhi\n";
    assert_int_equal(dsn_parse(REFS, strlen(REFS), &r), DSN_OK);
    assert_string_equal(r.message_id, "<a@x>");
    /* A report of another kind is no DSN. */
    static const char MDN[] = "Content-Type: multipart/report; report-type=disposition-notification;"
                              " boundary=b\n\n--b\nContent-Type: message/disposition-notification\n\n"
                              "Action: failed\nStatus: 5.0.0\n\n--b--\n";
    assert_int_equal(dsn_parse(MDN, strlen(MDN), &r), DSN_OK);
    assert_false(r.is_dsn);
    assert_false(r.hard);
}

static void
test_damaged_input(void **state)
{
    (void)state;
    dsn_report r;
    assert_int_equal(dsn_parse("", 0, &r), DSN_OK);
    assert_false(r.is_dsn);
    /* Every prefix of a real DSN reads without going past its end (ASan checks). */
    for (size_t n = 0; n < sizeof POSTFIX - 1; n += 7) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, POSTFIX, n);
        assert_int_equal(dsn_parse(copy, n, &r), DSN_OK);
        free(copy);
    }
    /* A malformed Status is no status. */
    static const char BAD[] = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
                              "--b\nContent-Type: message/delivery-status\n\nAction: failed\nStatus: 5.x.1\n\n--b--\n";
    assert_int_equal(dsn_parse(BAD, strlen(BAD), &r), DSN_OK);
    assert_true(r.is_dsn);
    assert_string_equal(r.status, "");
    assert_false(r.hard);
}

static void
test_size_bound(void **state)
{
    (void)state;
    dsn_report r;
    assert_int_equal(dsn_parse(POSTFIX, MAIL_IN_BYTES_MAX + 1, &r), DSN_TOO_LARGE); /* not read */
    assert_false(r.is_dsn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postfix_hard_bounce),
        cmocka_unit_test(test_exim_hard_bounce),
        cmocka_unit_test(test_soft_bounce),
        cmocka_unit_test(test_not_a_dsn),
        cmocka_unit_test(test_damaged_input),
        cmocka_unit_test(test_size_bound),
    };
    return cmocka_run_group_tests_name("dsn", tests, NULL, NULL);
}
