/* test_mail_in.c -- reading customers' email as mail clients write it:
 * Thunderbird (format=flowed, an encoded name, a quoted reply), Gmail
 * (multipart/alternative, base64 UTF-8, a wrapped "On ... wrote:" line),
 * Outlook (Windows-1252 quoted-printable, its "From:" block under a rule),
 * a nested multipart with an attachment, encoded subjects, the ticket
 * token, id lists and the size bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/mail_in.h"

static const char THUNDERBIRD[] =
    "From - Tue Nov 24 10:00:00 2026\r\n"
    "Message-ID: <4b1f0c2e-5d1a-4c7e-9a3b-2f0d8e6a1c55@example.com>\r\n"
    "Date: Tue, 24 Nov 2026 11:00:00 +0100\r\n"
    "MIME-Version: 1.0\r\n"
    "User-Agent: Mozilla Thunderbird\r\n"
    "Subject: Re: =?UTF-8?Q?Votre_commande_n=C2=B0_1042?= [#T-ABCDE23456]\r\n"
    "To: support@shop.example\r\n"
    "References: <patron.7@shop.example>\r\n"
    " <patron.12@shop.example>\r\n"
    "In-Reply-To: <patron.12@shop.example>\r\n"
    "From: =?UTF-8?Q?Zo=C3=A9_Dupr=C3=A9?= <zoe@example.com>\r\n"
    "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Bonjour, the parcel arrived but the lid is \r\n"
    "cracked. Can you send a new one?\r\n"
    "\r\n"
    "Zo\xc3\xa9\r\n"
    "\r\n"
    "On 24/11/2026 10:00, Maison Verte wrote:\r\n"
    "> Thank you for writing. Which part is broken?\r\n"
    ">\r\n"
    "> Sam\r\n";

static const char GMAIL[] =
    "MIME-Version: 1.0\r\n"
    "Date: Tue, 24 Nov 2026 10:05:00 +0000\r\n"
    "References: <patron.31@shop.example>\r\n"
    "In-Reply-To: <patron.31@shop.example>\r\n"
    "Message-ID: <CAF=abc123+XyZ@mail.gmail.com>\r\n"
    "Subject: =?UTF-8?B?UmU6IE1hIGNhcnRlIGZpZMOpbGl0w6k=?=\r\n"
    " =?UTF-8?B?IG4nYSBwYXMgw6l0w6kgY3LDqWRpdMOpZQ==?=\r\n"
    "From: Jane Doe <jane.doe@gmail.com>\r\n"
    "To: Maison Verte <support@shop.example>\r\n"
    "Content-Type: multipart/alternative; boundary=\"000000000000a1b2c3\"\r\n"
    "\r\n"
    "--000000000000a1b2c3\r\n"
    "Content-Type: text/plain; charset=\"UTF-8\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    /* "Thanks, that worked! \xe2\x9c\x93\n\nOn Tue, Nov 24, 2026 at 10:00 AM Maison Verte <\nsupport@shop.example> wrote:\n> Please try again.\n" */
    "VGhhbmtzLCB0aGF0IHdvcmtlZCEg4pyTCgpPbiBUdWUsIE5vdiAyNCwgMjAyNiBhdCAxMDowMCBB\r\n"
    "TSBNYWlzb24gVmVydGUgPApzdXBwb3J0QHNob3AuZXhhbXBsZT4gd3JvdGU6Cj4gUGxlYXNlIHRy\r\n"
    "eSBhZ2Fpbi4K\r\n"
    "--000000000000a1b2c3\r\n"
    "Content-Type: text/html; charset=\"UTF-8\"\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<div dir=3D\"ltr\">Thanks, that worked!</div>\r\n"
    "--000000000000a1b2c3--\r\n";

static const char OUTLOOK[] =
    "From: \"Smith, John\" <John.Smith@Contoso.example>\n"
    "To: \"support@shop.example\" <support@shop.example>\n"
    "Subject: =?iso-8859-1?Q?R=E9clamation_=80_facture?=\n"
    "Thread-Topic: Reclamation\n"
    "Message-ID: <DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.outlook.com>\n"
    "Content-Type: multipart/alternative;\n"
    "\tboundary=\"_000_DB9PR01MB1234_\"\n"
    "MIME-Version: 1.0\n"
    "\n"
    "--_000_DB9PR01MB1234_\n"
    "Content-Type: text/plain; charset=\"Windows-1252\"\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "I was charged 12 =80 twice =96 please refund one of them. This line is lon=\n"
    "g enough to be wrapped.\n"
    "\n"
    "________________________________\n"
    "From: Maison Verte <support@shop.example>\n"
    "Sent: Tuesday, 24 November 2026 10:00\n"
    "Subject: Your invoice\n"
    "\n"
    "Here is your invoice.\n"
    "\n"
    "--_000_DB9PR01MB1234_\n"
    "Content-Type: text/html; charset=\"Windows-1252\"\n"
    "\n"
    "<html>...</html>\n"
    "--_000_DB9PR01MB1234_--\n";

static const char NESTED[] =
    "From: bob@example.org (Bob Martin)\r\n"
    "Subject: Photos of the damage\r\n"
    "Message-ID: <m1@example.org>\r\n"
    "Auto-Submitted: no\r\n"
    "Content-Type: multipart/mixed; boundary=outer\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "See the attached photo.\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>See the attached photo.</p>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: text/plain; name=\"notes.txt\"\r\n"
    "Content-Disposition: attachment; filename=\"notes.txt\"\r\n"
    "\r\n"
    "not the body\r\n"
    "--outer--\r\n";

static mail_in_message
parse_ok(const char *text)
{
    mail_in_message m;
    assert_int_equal(mail_in_parse(text, strlen(text), &m), MAIL_IN_OK);
    return m;
}

static void
test_thunderbird_flowed_encoded_name_and_quote(void **state)
{
    (void)state;
    mail_in_message m = parse_ok(THUNDERBIRD);
    assert_string_equal(m.from_address, "zoe@example.com");
    assert_string_equal(m.from_name, "Zo\xc3\xa9 Dupr\xc3\xa9");
    assert_string_equal(m.subject, "Re: Votre commande n\xc2\xb0 1042 [#T-ABCDE23456]");
    assert_string_equal(m.message_id, "<4b1f0c2e-5d1a-4c7e-9a3b-2f0d8e6a1c55@example.com>");
    assert_string_equal(m.in_reply_to, "<patron.12@shop.example>");
    assert_string_equal(m.references, "<patron.7@shop.example> <patron.12@shop.example>");
    assert_false(m.auto_submitted);
    assert_string_equal(m.text, "Bonjour, the parcel arrived but the lid is cracked. Can you send a new one?\n\nZo\xc3\xa9");
    char token[16];
    assert_true(mail_in_ticket_token(m.subject, token, sizeof token));
    assert_string_equal(token, "ABCDE23456");
    mail_in_release(&m);
}

static void
test_gmail_base64_alternative_and_wrapped_attribution(void **state)
{
    (void)state;
    mail_in_message m = parse_ok(GMAIL);
    assert_string_equal(m.from_address, "jane.doe@gmail.com");
    assert_string_equal(m.from_name, "Jane Doe");
    /* Two encoded words on two lines: one subject, no space where they join. */
    assert_string_equal(m.subject, "Re: Ma carte fid\xc3\xa9lit\xc3\xa9 n'a pas \xc3\xa9t\xc3\xa9 cr\xc3\xa9" "dit\xc3\xa9" "e");
    assert_string_equal(m.message_id, "<CAF=abc123+XyZ@mail.gmail.com>");
    assert_string_equal(m.text, "Thanks, that worked! \xe2\x9c\x93");
    char token[16];
    assert_false(mail_in_ticket_token(m.subject, token, sizeof token));
    mail_in_release(&m);
}

static void
test_outlook_windows_1252_and_from_block(void **state)
{
    (void)state;
    mail_in_message m = parse_ok(OUTLOOK);
    assert_string_equal(m.from_address, "John.Smith@Contoso.example");
    assert_string_equal(m.from_name, "Smith, John");
    assert_string_equal(m.subject, "R\xc3\xa9" "clamation \xe2\x82\xac facture");
    assert_string_equal(m.in_reply_to, "");
    assert_string_equal(m.text, "I was charged 12 \xe2\x82\xac twice \xe2\x80\x93 please refund one of them. This line"
                                " is long enough to be wrapped.");
    mail_in_release(&m);
}

static void
test_nested_multipart_skips_attachments(void **state)
{
    (void)state;
    mail_in_message m = parse_ok(NESTED);
    assert_string_equal(m.from_address, "bob@example.org");
    assert_string_equal(m.from_name, "Bob Martin");
    assert_string_equal(m.text, "See the attached photo.");
    assert_false(m.auto_submitted);
    mail_in_release(&m);
}

static void
test_auto_reply_and_no_text(void **state)
{
    (void)state;
    static const char OOO[] = "From: <away@example.com>\nSubject: Out of office\nAuto-Submitted: auto-replied\n"
                              "Content-Type: text/html\n\n<p>I am away</p>\n";
    mail_in_message m = parse_ok(OOO);
    assert_true(m.auto_submitted);
    assert_string_equal(m.from_address, "away@example.com");
    assert_string_equal(m.from_name, "");
    assert_string_equal(m.text, "");
    mail_in_release(&m);
    static const char BARE[] = "From: jo@example.com\nSubject: hi\n\nNo MIME headers at all.\n";
    m = parse_ok(BARE);
    assert_string_equal(m.text, "No MIME headers at all.");
    mail_in_release(&m);
}

static void
test_encoded_words(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } CASES[] = {
        {"plain subject", "plain subject"},
        {"=?utf-8?q?caf=C3=A9?= ouvert", "caf\xc3\xa9 ouvert"},
        {"=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "\xc3\xa9\xc3\xa9"},
        {"a =?ISO-8859-1?Q?=E9t=E9?= b", "a \xc3\xa9t\xc3\xa9 b"},
        {"=?UTF-8?X?nope?=", "=?UTF-8?X?nope?="},
        {"=?UTF-8?Q?unterminated", "=?UTF-8?Q?unterminated"},
        {"ctl=?UTF-8?Q?=01?=x", "ctlx"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char out[128];
        mail_in_decode_words(CASES[i].in, out, sizeof out);
        assert_string_equal(out, CASES[i].out);
    }
    char small[6];
    mail_in_decode_words("=?UTF-8?B?w6nDqcOp?=", small, sizeof small); /* three 2-byte characters into 5 bytes */
    assert_string_equal(small, "\xc3\xa9\xc3\xa9");
}

static void
test_strip_quoted(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } CASES[] = {
        {"Yes please.\n\nOn Mon, 23 Nov 2026, Sam wrote:\n> Shall we?\n", "Yes please."},
        {"Top\n> quoted\nBottom\n", "Top\nBottom"},
        {"Fine\n-----Original Message-----\nFrom: x\n", "Fine"},
        {"> all quoted\n> really\n", "> all quoted\n> really\n"},
        {"On second thought, no.\nThanks\n", "On second thought, no.\nThanks"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char buf[256];
        strcpy(buf, CASES[i].in);
        mail_in_strip_quoted(buf);
        assert_string_equal(buf, CASES[i].out);
    }
}

static void
test_tokens_and_ids(void **state)
{
    (void)state;
    char token[16], id[64];
    assert_true(mail_in_ticket_token("Re: hi [#t-abcde23456] there", token, sizeof token));
    assert_string_equal(token, "ABCDE23456");
    assert_false(mail_in_ticket_token("[#T-ABCDE2345]", token, sizeof token));   /* too short */
    assert_false(mail_in_ticket_token("[#T-ABCDE234561]", token, sizeof token)); /* too long */
    assert_false(mail_in_ticket_token("[#T-ABCDE23451]", token, sizeof token));  /* '1' is not base32 */
    assert_true(mail_in_ticket_token("[#X] [#T-ZZZZZ77777]", token, sizeof token));
    assert_string_equal(token, "ZZZZZ77777");
    const char *cursor = "<a@x> junk <b@y>";
    assert_true(mail_in_next_id(&cursor, id, sizeof id));
    assert_string_equal(id, "<a@x>");
    assert_true(mail_in_next_id(&cursor, id, sizeof id));
    assert_string_equal(id, "<b@y>");
    assert_false(mail_in_next_id(&cursor, id, sizeof id));
}

static void
test_size_bound(void **state)
{
    (void)state;
    mail_in_message m;
    assert_int_equal(mail_in_parse("x", MAIL_IN_BYTES_MAX + 1, &m), MAIL_IN_TOO_LARGE);
    assert_null(m.text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thunderbird_flowed_encoded_name_and_quote),
        cmocka_unit_test(test_gmail_base64_alternative_and_wrapped_attribution),
        cmocka_unit_test(test_outlook_windows_1252_and_from_block),
        cmocka_unit_test(test_nested_multipart_skips_attachments),
        cmocka_unit_test(test_auto_reply_and_no_text),
        cmocka_unit_test(test_encoded_words),
        cmocka_unit_test(test_strip_quoted),
        cmocka_unit_test(test_tokens_and_ids),
        cmocka_unit_test(test_size_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
