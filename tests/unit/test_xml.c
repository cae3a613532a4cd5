/* test_xml.c -- escaping text for the Atom feeds: entities, and what XML forbids is dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/xml.h"

static void
test_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } CASES[] = {
        {"plain", "plain"},
        {"<b>&\"", "&lt;b&gt;&amp;&quot;"},
        {"it's", "it&apos;s"},
        {"tab\tand\nline\r", "tab\tand\nline\r"},
        {"bell\x07" "esc\x1b" "nul", "bellescnul"},             /* control characters go */
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8c\xbf", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8c\xbf"}, /* UTF-8 stays */
        {"bad\xff" "byte", "badbyte"},                          /* not UTF-8 */
        {"over\xc0\xaflong", "overlong"},                       /* an overlong '/' */
        {"surrogate\xed\xa0\x80!", "surrogate!"},               /* U+D800 */
        {"nonchar\xef\xbf\xbe!", "nonchar!"},                   /* U+FFFE */
        {"cut\xe2\x82", "cut"},                                 /* a sequence cut by the end */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        arena mem = {0};
        arena_text out = {.mem = &mem};
        arena_text_append(&out, "");
        xml_escape_append(&out, CASES[i].in);
        assert_string_equal(out.text, CASES[i].out);
        arena_release(&mem);
    }
    arena mem = {0};
    arena_text out = {.mem = &mem};
    arena_text_append(&out, "x");
    xml_escape_append(&out, NULL);
    assert_string_equal(out.text, "x");
    arena_release(&mem);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_escape)};
    return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
