/* test_svg_chart.c -- SVG charts: well-formed documents with a title and a desc, one path
 * per series with a point per value and a new subpath after each NAN, one rect per bar,
 * escaped text, rounded y axes (87 tops out at 100), and NULL for counts out of range.
 *
 * patron has no XML parser (xml.h only escapes), so the documents are checked by
 * xml_well_formed below: the subset of XML 1.0 the charts write, strictly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/svg_chart.h"

#define XML_NAME_BYTES_MAX 32
#define XML_DEPTH_MAX 16
#define XML_ATTRIBUTES_MAX 16

/* What the well-formedness check saw. */
typedef struct xml_seen {
    char root[XML_NAME_BYTES_MAX];
    int titles, descs;
    char title[256], desc[512]; /* their raw text, entities kept */
} xml_seen;

static bool
name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == ':' || c == '.';
}

static const char *
skip_space(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    return s;
}

/* The end of the entity reference at s ('&'), or NULL when it is none XML predefines. */
static const char *
entity_end(const char *s)
{
    static const char *const NAMED[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < sizeof NAMED / sizeof NAMED[0]; i++)
        if (strncmp(s, NAMED[i], strlen(NAMED[i])) == 0)
            return s + strlen(NAMED[i]);
    if (s[1] != '#')
        return NULL;
    const char *digits = s[2] == 'x' ? s + 3 : s + 2, *e = digits;
    while (isxdigit((unsigned char)*e))
        e++;
    return e > digits && *e == ';' ? e + 1 : NULL;
}

/* The end of character data at s (the next '<'), or NULL at a bare '&'. */
static const char *
text_end(const char *s)
{
    while (s != NULL && *s != '\0' && *s != '<')
        s = *s == '&' ? entity_end(s) : s + 1;
    return s;
}

/* The end of the quoted attribute value at s, or NULL. */
static const char *
value_end(const char *s)
{
    char quote = *s++;
    if (quote != '"' && quote != '\'')
        return NULL;
    while (s != NULL && *s != quote)
        s = *s == '\0' || *s == '<' ? NULL : *s == '&' ? entity_end(s) : s + 1;
    return s == NULL ? NULL : s + 1;
}

/* The end of the start tag at s ('<'), its name in name, *empty for "/>"; NULL when malformed. */
static const char *
start_tag_end(const char *s, char name[XML_NAME_BYTES_MAX], bool *empty)
{
    char attributes[XML_ATTRIBUTES_MAX][XML_NAME_BYTES_MAX];
    size_t n = 0, count = 0;
    for (s++; name_char(s[n]); n++)
        ;
    if (n == 0 || n >= XML_NAME_BYTES_MAX || !isalpha((unsigned char)s[0]))
        return NULL;
    memcpy(name, s, n);
    name[n] = '\0';
    for (s += n;;) {
        const char *t = skip_space(s);
        *empty = t[0] == '/' && t[1] == '>';
        if (*t == '>' || *empty)
            return t + (*empty ? 2 : 1);
        for (n = 0; name_char(t[n]); n++)
            ;
        if (t == s || n == 0 || n >= XML_NAME_BYTES_MAX || count == XML_ATTRIBUTES_MAX)
            return NULL; /* no space before the attribute, or no name */
        for (size_t k = 0; k < count; k++)
            if (strlen(attributes[k]) == n && strncmp(attributes[k], t, n) == 0)
                return NULL; /* an attribute twice */
        memcpy(attributes[count], t, n);
        attributes[count++][n] = '\0';
        t = skip_space(t + n);
        if (*t != '=' || (s = value_end(skip_space(t + 1))) == NULL)
            return NULL;
    }
}

/* Copies the raw text at s (up to '<') into buf. */
static void
copy_text(char *buf, size_t size, const char *s)
{
    size_t n = strcspn(s, "<");
    n = n < size - 1 ? n : size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

/* Whether doc is well-formed: an optional <?xml ...?>, one root, tags nested and closed,
 * attributes quoted and unique, no bare '&' or '<' in text and values. */
static bool
xml_well_formed(const char *doc, xml_seen *seen)
{
    char stack[XML_DEPTH_MAX][XML_NAME_BYTES_MAX];
    size_t depth = 0;
    bool root_closed = false;
    memset(seen, 0, sizeof *seen);
    const char *s = doc;
    if (strncmp(s, "<?xml ", 6) == 0 && (s = strstr(s, "?>")) != NULL)
        s += 2;
    while (s != NULL && *(s = depth == 0 ? skip_space(s) : s) != '\0') {
        if (*s != '<') {
            s = depth == 0 ? NULL : text_end(s); /* text outside the root */
        } else if (s[1] == '/') {
            size_t n = depth > 0 ? strlen(stack[depth - 1]) : 0;
            if (depth == 0 || strncmp(s + 2, stack[depth - 1], n) != 0 || s[2 + n] != '>')
                return false;
            s += 3 + n;
            root_closed = --depth == 0;
        } else {
            char name[XML_NAME_BYTES_MAX];
            bool empty = false;
            if (root_closed || depth == XML_DEPTH_MAX ||
                (s = start_tag_end(s, name, &empty)) == NULL)
                return false;
            if (seen->root[0] == '\0')
                strcpy(seen->root, name);
            if (strcmp(name, "title") == 0 && seen->titles++ == 0)
                copy_text(seen->title, sizeof seen->title, s);
            if (strcmp(name, "desc") == 0 && seen->descs++ == 0)
                copy_text(seen->desc, sizeof seen->desc, s);
            if (!empty)
                strcpy(stack[depth++], name);
            root_closed = empty && depth == 0;
        }
    }
    return s != NULL && root_closed;
}

/* Occurrences of needle in text. */
static int
count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *s = strstr(text, needle); s != NULL; s = strstr(s + 1, needle))
        n++;
    return n;
}

/* The series' paths (class="line"): for each, its points (M and L) and subpaths (M). */
static int
line_paths(const char *doc, int points[], int subpaths[], int paths_max)
{
    int paths = 0;
    for (const char *s = strstr(doc, "class=\"line\""); s != NULL;
         s = strstr(s + 1, "class=\"line\"")) {
        assert_true(paths < paths_max);
        const char *d = strstr(s, " d=\"");
        assert_non_null(d);
        points[paths] = subpaths[paths] = 0;
        for (d += 4; *d != '"'; d++) {
            points[paths] += *d == 'M' || *d == 'L';
            subpaths[paths] += *d == 'M';
        }
        paths++;
    }
    return paths;
}

/* The texts of the elements of a class ("y-tick", "x-tick"), in document order. */
static int
tick_labels(const char *doc, const char *class_name, char labels[][32], int labels_max)
{
    char needle[64];
    snprintf(needle, sizeof needle, "class=\"%s\"", class_name);
    int n = 0;
    for (const char *s = strstr(doc, needle); s != NULL; s = strstr(s + 1, needle)) {
        assert_true(n < labels_max);
        copy_text(labels[n++], 32, strchr(s, '>') + 1);
    }
    return n;
}

/* A line chart over x = 0..count-1 of one series, the document checked well-formed. */
static char *
one_line(const double *values, size_t count)
{
    double x[SVG_POINTS_MAX];
    for (size_t i = 0; i < count; i++)
        x[i] = (double)i;
    svg_series series = {"values", values, false};
    char *doc = svg_line_chart(&(svg_chart){"t", "x", "y", 0, 0}, x, count, &series, 1);
    xml_seen seen;
    assert_non_null(doc);
    assert_true(xml_well_formed(doc, &seen));
    return doc;
}

static void
test_the_checker_rejects_malformed_xml(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        "<svg><g></svg>",
        "<svg a=\"1\" a=\"2\"/>",
        "<svg>&</svg>",
        "<svg x=\"<\"/>",
        "<svg/><svg/>",
        "<svg a=1/>",
        "<svg>&bogus;</svg>",
        "text<svg/>",
        "<svg a=\"1\"b=\"2\"/>",
        "<svg>",
        "</svg>",
        "",
    };
    xml_seen seen;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        if (xml_well_formed(BAD[i], &seen))
            fail_msg("accepted '%s'", BAD[i]);
    assert_true(xml_well_formed("<?xml version=\"1.0\"?>\n<svg a='&lt;&#38;'><title>x &amp; "
                                "y</title><g/></svg>\n",
                                &seen));
    assert_string_equal(seen.root, "svg");
    assert_string_equal(seen.title, "x &amp; y");
}

static void
test_line_chart_document(void **state)
{
    (void)state;
    double x[10], actual[10], predicted[10];
    for (int i = 0; i < 10; i++) {
        x[i] = i;
        actual[i] = i * i;
        predicted[i] = i * 9.0;
    }
    svg_series series[] = {{"Actual", actual, false}, {"Predicted", predicted, true}};
    svg_chart chart = {"Repeat purchases", "week", "customers", 0, 0};
    char *doc = svg_line_chart(&chart, x, 10, series, 2);
    xml_seen seen;
    assert_non_null(doc);
    assert_true(xml_well_formed(doc, &seen));
    assert_string_equal(seen.root, "svg");
    assert_int_equal(seen.titles, 1);
    assert_int_equal(seen.descs, 1);
    assert_string_equal(seen.title, "Repeat purchases");
    assert_string_equal(seen.desc, "Line chart of 2 series (Actual, Predicted) over 10 points.");
    assert_non_null(strstr(doc, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(doc, "viewBox=\"0 0 720 400\""));
    assert_non_null(strstr(doc, "role=\"img\" aria-labelledby=\"chart-title chart-desc\""));
    int points[4], subpaths[4];
    assert_int_equal(line_paths(doc, points, subpaths, 4), 2);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(points[s], 10);
        assert_int_equal(subpaths[s], 1);
    }
    /* Okabe-Ito in order; the dashed series dashed in the plot and in the legend. */
    assert_non_null(strstr(doc, "stroke=\"#0072B2\""));
    assert_non_null(strstr(doc, "stroke=\"#D55E00\""));
    assert_int_equal(count_of(doc, "stroke-dasharray=\"6 4\""), 2);
    assert_int_equal(count_of(doc, ">Actual</text>"), 1);
    assert_int_equal(count_of(doc, ">Predicted</text>"), 1);
    assert_int_equal(count_of(doc, ">week</text>"), 1);
    assert_int_equal(count_of(doc, ">customers</text>"), 1);
    free(doc);
}

static void
test_nan_breaks_the_line(void **state)
{
    (void)state;
    double values[10] = {1, 2, 3, 4, NAN, 6, 7, 8, 9, 10};
    int points[1], subpaths[1];
    char *doc = one_line(values, 10);
    assert_int_equal(line_paths(doc, points, subpaths, 1), 1);
    assert_int_equal(points[0], 9);
    assert_int_equal(subpaths[0], 2);
    assert_int_equal(count_of(doc, "<circle"), 0);
    free(doc);
    /* A point alone between gaps is a subpath of one point: a dot makes it visible. */
    double lonely[5] = {1, NAN, 3, 4, NAN};
    doc = one_line(lonely, 5);
    assert_int_equal(line_paths(doc, points, subpaths, 1), 1);
    assert_int_equal(points[0], 3);
    assert_int_equal(subpaths[0], 2);
    assert_int_equal(count_of(doc, "<circle"), 1);
    free(doc);
    /* Infinities and absurd magnitudes are no value either; nothing at all still draws axes. */
    double odd[4] = {INFINITY, -INFINITY, 1e308, NAN};
    doc = one_line(odd, 4);
    assert_int_equal(line_paths(doc, points, subpaths, 1), 1);
    assert_int_equal(points[0], 0);
    free(doc);
}

static void
test_text_is_escaped(void **state)
{
    (void)state;
    double x[2] = {0, 1}, values[2] = {1, 2};
    svg_series series = {"a<b>&'c'", values, false};
    svg_chart chart = {"Tom & \"Jerry\" <3", "x & y",
                       "bad\xff"
                       "byte\x01",
                       0, 0};
    char *doc = svg_line_chart(&chart, x, 2, &series, 1);
    xml_seen seen;
    assert_true(xml_well_formed(doc, &seen));
    assert_string_equal(seen.title, "Tom &amp; &quot;Jerry&quot; &lt;3");
    assert_int_equal(count_of(doc, "Tom &amp; &quot;Jerry&quot; &lt;3"), 2); /* title, text */
    assert_null(strstr(doc, "\"Jerry\""));
    assert_string_equal(seen.desc,
                        "Line chart of 1 series (a&lt;b&gt;&amp;&apos;c&apos;) over 2 points.");
    assert_non_null(strstr(doc, ">x &amp; y</text>"));
    assert_non_null(strstr(doc, ">badbyte</text>")); /* what XML forbids is dropped */
    free(doc);
    const char *categories[2] = {"<one>", "two & three"};
    doc = svg_bar_chart(&chart, categories, 2, &series, 1);
    assert_true(xml_well_formed(doc, &seen));
    assert_non_null(strstr(doc, ">&lt;one&gt;</text>"));
    assert_non_null(strstr(doc, ">two &amp; three</text>"));
    free(doc);
}

static void
test_invalid_inputs_give_null(void **state)
{
    (void)state;
    static double x[SVG_POINTS_MAX + 1], values[SVG_POINTS_MAX + 1];
    static const char *categories[SVG_POINTS_MAX + 1];
    svg_series series[SVG_SERIES_MAX + 1];
    for (size_t s = 0; s <= SVG_SERIES_MAX; s++)
        series[s] = (svg_series){"s", values, false};
    for (size_t i = 0; i <= SVG_POINTS_MAX; i++) {
        x[i] = (double)i;
        values[i] = (double)(i % 17);
        categories[i] = "c";
    }
    svg_chart chart = {"t", NULL, NULL, 0, 0};
    assert_null(svg_line_chart(&chart, x, 0, series, 1));
    assert_null(svg_line_chart(&chart, x, SVG_POINTS_MAX + 1, series, 1));
    assert_null(svg_line_chart(&chart, x, 3, series, 0));
    assert_null(svg_line_chart(&chart, x, 3, series, SVG_SERIES_MAX + 1));
    assert_null(svg_bar_chart(&chart, categories, 0, series, 1));
    assert_null(svg_bar_chart(&chart, categories, SVG_POINTS_MAX + 1, series, 1));
    assert_null(svg_bar_chart(&chart, categories, 3, series, 0));
    assert_null(svg_bar_chart(&chart, categories, 3, series, SVG_SERIES_MAX + 1));
    /* The largest charts draw. */
    xml_seen seen;
    int points[SVG_SERIES_MAX], subpaths[SVG_SERIES_MAX];
    char *doc = svg_line_chart(&chart, x, SVG_POINTS_MAX, series, SVG_SERIES_MAX);
    assert_true(xml_well_formed(doc, &seen));
    assert_int_equal(line_paths(doc, points, subpaths, SVG_SERIES_MAX), SVG_SERIES_MAX);
    assert_int_equal(points[SVG_SERIES_MAX - 1], SVG_POINTS_MAX);
    free(doc);
    doc = svg_bar_chart(&chart, categories, SVG_POINTS_MAX, series, SVG_SERIES_MAX);
    assert_true(xml_well_formed(doc, &seen));
    assert_int_equal(count_of(doc, "class=\"bar\""), SVG_POINTS_MAX * SVG_SERIES_MAX);
    free(doc);
}

static void
test_bar_chart(void **state)
{
    (void)state;
    const char *categories[5] = {"Mon", "Tue", "Wed", "Thu", "Fri"};
    double a[5] = {3, 4, NAN, 6, 7}, b[5] = {1, 2, 3, 4, 5}, c[5] = {0, NAN, -2, 2, 9};
    svg_series series[] = {{"a", a, false}, {"b", b, true}, {"c", c, false}};
    char *doc = svg_bar_chart(&(svg_chart){"Visits", NULL, NULL, 0, 0}, categories, 5, series, 3);
    xml_seen seen;
    assert_true(xml_well_formed(doc, &seen));
    assert_string_equal(seen.desc, "Bar chart of 3 series (a, b, c) over 5 categories.");
    assert_int_equal(count_of(doc, "class=\"bar\""), 3 * 5 - 2);
    assert_int_equal(count_of(doc, "stroke-dasharray=\"4 2\""), 5 + 1); /* b's bars, its swatch */
    char labels[64][32];
    assert_int_equal(tick_labels(doc, "x-tick", labels, 64), 5);
    assert_string_equal(labels[4], "Fri");
    /* -2 takes the axis below 0; 9 is under its top. */
    assert_int_equal(tick_labels(doc, "y-tick", labels, 64), 6);
    assert_string_equal(labels[0], "-4");
    assert_string_equal(labels[5], "16");
    free(doc);
    /* Beyond 20 categories every k-th is labelled: 50 by 3 gives 17 labels. */
    static const char *many[50];
    double values[50];
    for (int i = 0; i < 50; i++) {
        many[i] = "day";
        values[i] = i;
    }
    doc = svg_bar_chart(&(svg_chart){"t", NULL, NULL, 0, 0}, many, 50,
                        &(svg_series){"v", values, false}, 1);
    assert_int_equal(tick_labels(doc, "x-tick", labels, 64), 17);
    assert_int_equal(count_of(doc, "class=\"bar\""), 50);
    free(doc);
}

static void
test_y_axis_is_rounded(void **state)
{
    (void)state;
    static const struct {
        double max;
        const char *bottom, *top;
    } CASES[] = {
        {87, "0", "100"},  {100, "0", "100"},    {101, "0", "200"},  {1, "0", "1"},
        {2.4, "0", "2.5"}, {3, "0", "5"},        {0.3, "0", "0.5"},  {12000, "0", "20k"},
        {0, "0", "1"},     {-30, "-50", "0"},    {4.2e6, "0", "5M"}, {0.07, "0", "0.1"},
        {NAN, "0", "1"},   {2.5e10, "0", "25G"},
    };
    char labels[16][32];
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        double values[3] = {0, CASES[i].max / 2, CASES[i].max};
        char *doc = one_line(values, 3);
        assert_int_equal(tick_labels(doc, "y-tick", labels, 16), 6);
        if (strcmp(labels[0], CASES[i].bottom) != 0 || strcmp(labels[5], CASES[i].top) != 0)
            fail_msg("max %g: axis %s..%s, expected %s..%s", CASES[i].max, labels[0], labels[5],
                     CASES[i].bottom, CASES[i].top);
        free(doc);
    }
    /* 87: 0, 20, ..., 100. */
    double values[1] = {87};
    char *doc = one_line(values, 1);
    tick_labels(doc, "y-tick", labels, 16);
    static const char *const EXPECTED[6] = {"0", "20", "40", "60", "80", "100"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(labels[i], EXPECTED[i]);
    free(doc);
}

static void
test_x_axis_ticks(void **state)
{
    (void)state;
    double values[78], x[78];
    for (int i = 0; i < 78; i++) {
        values[i] = i % 7;
        x[i] = 19000 + i;
    }
    char labels[16][32];
    char *doc = one_line(values, 78); /* x = 0..77: 0, 10, ..., 70 */
    assert_int_equal(tick_labels(doc, "x-tick", labels, 16), 8);
    assert_string_equal(labels[0], "0");
    assert_string_equal(labels[7], "70");
    free(doc);
    /* Days since the epoch: labels precise enough to tell ticks apart. */
    doc = svg_line_chart(&(svg_chart){"t", NULL, NULL, 0, 0}, x, 78,
                         &(svg_series){"v", values, false}, 1);
    int n = tick_labels(doc, "x-tick", labels, 16);
    assert_true(n >= 5 && n <= 11);
    assert_string_equal(labels[0], "19k");
    assert_string_equal(labels[1], "19.01k");
    for (int i = 1; i < n; i++)
        assert_string_not_equal(labels[i - 1], labels[i]);
    free(doc);
    /* One point: a range around it. */
    double one[1] = {5};
    doc = svg_line_chart(&(svg_chart){"t", NULL, NULL, 0, 0}, one, 1,
                         &(svg_series){"v", one, false}, 1);
    xml_seen seen;
    assert_true(xml_well_formed(doc, &seen));
    assert_int_equal(count_of(doc, "<circle"), 1);
    free(doc);
}

static void
test_sizes(void **state)
{
    (void)state;
    double x[2] = {0, 1}, values[2] = {1, 2};
    svg_series series = {NULL, values, false};
    char *doc = svg_line_chart(&(svg_chart){NULL, NULL, NULL, 1000, 500}, x, 2, &series, 1);
    xml_seen seen;
    assert_true(xml_well_formed(doc, &seen));
    assert_non_null(strstr(doc, "width=\"1000\" height=\"500\" viewBox=\"0 0 1000 500\""));
    assert_string_equal(seen.title, "Line chart"); /* no title: the kind */
    free(doc);
    doc = svg_line_chart(&(svg_chart){"t", NULL, NULL, 10, -5}, x, 2, &series, 1);
    assert_true(xml_well_formed(doc, &seen));
    assert_non_null(
        strstr(doc, "viewBox=\"0 0 240 400\"")); /* too small: raised; negative: default */
    free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_checker_rejects_malformed_xml),
        cmocka_unit_test(test_line_chart_document),
        cmocka_unit_test(test_nan_breaks_the_line),
        cmocka_unit_test(test_text_is_escaped),
        cmocka_unit_test(test_invalid_inputs_give_null),
        cmocka_unit_test(test_bar_chart),
        cmocka_unit_test(test_y_axis_is_rounded),
        cmocka_unit_test(test_x_axis_ticks),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests_name("svg_chart", tests, NULL, NULL);
}
