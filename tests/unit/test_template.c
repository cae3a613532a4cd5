/* test_template.c -- message templates: values, escaping, conditionals, loops, and
 * the errors a template gets when saved (with line, column and a suggestion). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/bounds.h"
#include "core/template.h"

static const char *const SCALARS[] = {"member.first_name", "points.available", "points.expiring", NULL};
static const char *const OFFER_FIELDS[] = {"title", "ends_at", NULL};
static const tpl_list LISTS[] = {{"offers", OFFER_FIELDS}};
static const tpl_names NAMES = {SCALARS, LISTS, 1};

/* Parses (it must) and renders source with ctx (JSON text). */
static const char *
render(arena *mem, const char *source, const char *ctx_json, tpl_escape escape)
{
    tpl_error err;
    const tpl_node *root = tpl_parse(mem, source, &NAMES, &err);
    if (root == NULL)
        fail_msg("%s: %s", source, err.message);
    json_t *ctx = json_loads(ctx_json, 0, NULL);
    assert_non_null(ctx);
    const char *out = tpl_render(mem, root, ctx, escape);
    json_decref(ctx);
    return out;
}

/* Parses source, which must fail, and returns the message. */
static const char *
refused(arena *mem, const char *source, tpl_error *err)
{
    const tpl_node *root = tpl_parse(mem, source, &NAMES, err);
    assert_null(root);
    (void)mem;
    return err->message;
}

static const char *CTX = "{\"member\": {\"first_name\": \"Zo\\u00e9 <b>\"}, \"points\": {\"available\": 1250,"
                         " \"expiring\": 0}, \"offers\": [{\"title\": \"Double points\", \"ends_at\": \"Sunday\"},"
                         " {\"title\": \"5 & off\"}]}";

static void
test_values_and_escaping(void **state)
{
    (void)state;
    arena mem = {0};
    assert_string_equal(render(&mem, "Hello {{member.first_name}}, you have {{ points.available }} points.", CTX,
                               TPL_RAW),
                        "Hello Zo\xc3\xa9 <b>, you have 1250 points.");
    assert_string_equal(render(&mem, "<p>{{member.first_name}}</p>", CTX, TPL_HTML), "<p>Zo\xc3\xa9 &lt;b&gt;</p>");
    assert_string_equal(render(&mem, "{{member.first_name}}!", "{}", TPL_RAW), "!"); /* missing: nothing */
    assert_string_equal(render(&mem, "", CTX, TPL_RAW), "");
    assert_string_equal(render(&mem, "no tags {{! a note }}at all", CTX, TPL_RAW), "no tags at all");
    arena_release(&mem);
}

static void
test_conditionals_and_loops(void **state)
{
    (void)state;
    arena mem = {0};
    const char *source = "{{#if points.expiring}}hurry{{else}}relax{{/if}};"
                         "{{#each offers as offer}}[{{offer.title}}{{#if offer.ends_at}} until {{offer.ends_at}}{{/if}}]"
                         "{{/each}}{{#if offers}} ok{{/if}}";
    assert_string_equal(render(&mem, source, CTX, TPL_HTML),
                        "relax;[Double points until Sunday][5 &amp; off] ok");
    assert_string_equal(render(&mem, source, "{\"points\": {\"expiring\": 40}, \"offers\": []}", TPL_RAW),
                        "hurry;");
    arena_release(&mem);
}

static void
test_errors_say_where_and_what(void **state)
{
    (void)state;
    arena mem = {0};
    tpl_error err;
    assert_string_equal(refused(&mem, "Hi {{member.frist_name}}", &err),
                        "line 1, col 4: unknown name 'member.frist_name', did you mean 'member.first_name'?");
    assert_string_equal(refused(&mem, "a\n\xc3\xa9 {{#if points.available}}x", &err),
                        "line 2, col 3: {{#if}} is never closed");
    assert_int_equal(err.line, 2);
    assert_string_equal(refused(&mem, "x{{/if}}", &err), "line 1, col 2: {{/if}} closes nothing");
    assert_string_equal(refused(&mem, "{{#each offers as o}}{{/if}}", &err),
                        "line 1, col 22: this does not close {{#each}}");
    assert_string_equal(refused(&mem, "{{offers}}", &err),
                        "line 1, col 1: 'offers' is a list: loop over it with {{#each offers as ITEM}}");
    assert_string_equal(refused(&mem, "{{#each points.available as p}}{{/each}}", &err),
                        "line 1, col 1: 'points.available' is not a list: {{#each}} loops over a list");
    assert_string_equal(refused(&mem, "{{#each offers as offer}}{{offer.titel}}{{/each}}", &err),
                        "line 1, col 26: unknown name 'offer.titel', did you mean 'offer.title'?");
    assert_string_equal(refused(&mem, "{{offer.title}}", &err), "line 1, col 1: unknown name 'offer.title'");
    assert_string_equal(refused(&mem, "{{member.first_name", &err), "line 1, col 1: '{{' is never closed by '}}'");
    assert_string_equal(refused(&mem, "{{#each offers}}{{/each}}", &err),
                        "line 1, col 1: write {{#each LIST as ITEM}}");
    assert_string_equal(refused(&mem, "{{ two words }}", &err),
                        "line 1, col 1: a tag holds a name, #if, #each, else, /if, /each or a ! comment");
    arena_release(&mem);
}

static void
test_limits(void **state)
{
    (void)state;
    arena mem = {0};
    tpl_error err;
    char deep[TEMPLATE_DEPTH_MAX * 40 + 64] = "";
    for (int k = 0; k <= TEMPLATE_DEPTH_MAX; k++)
        strcat(deep, "{{#if points.available}}");
    assert_non_null(strstr(refused(&mem, deep, &err), "blocks nest more than"));
    static char big[TEMPLATE_BYTES_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    assert_non_null(strstr(refused(&mem, big, &err), "at most"));
    arena_release(&mem);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_escaping),
        cmocka_unit_test(test_conditionals_and_loops),
        cmocka_unit_test(test_errors_say_where_and_what),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests_name("template", tests, NULL, NULL);
}
