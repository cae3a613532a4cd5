/*
 * svg_chart.c -- see svg_chart.h.
 *
 * A chart is a plot: the picture's size, the plot area inside margins left
 * for the title and the axis labels, and the data ranges the area maps. Both
 * charts fit the plot to their data, then write the document top to bottom
 * (title and desc, y axis, x axis, the series, the legend last so it covers
 * the data rather than the other way round).
 *
 * The y axis starts at 0, or lower when values are negative, and always has
 * Y_INTERVALS intervals of a step on the ladder 1, 2, 4, 5 x 10^k: when 0 is
 * the bottom its top is then 1, 2, 2.5 or 5 x 10^k (87 gives 0..100 by 20).
 * A line chart's x axis spans its data with ticks 1, 2 or 5 x 10^k apart.
 *
 * Values that are not finite or beyond +-VALUE_ABS_MAX are no value (a gap
 * in a line, a missing bar), so every axis computation stays finite; values
 * in range are drawn inside the plot by construction. Numbers in tick labels
 * print with 4 significant digits (more when the ticks need them to differ),
 * 12500 as 12.5k.
 *
 * The text grows in an arena_text so it shares xml_escape_append with the
 * feeds (which also drops what XML forbids, so the output always parses);
 * the finished document is copied into one malloc'd string. Out of memory
 * aborts (STYLE.md: no path here is tested under allocation failure).
 */
#include "svg_chart.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "xml.h"

/* Picture sizes in pixels: the default, and the range others are clamped to. */
#define WIDTH_DEFAULT_PX 720
#define HEIGHT_DEFAULT_PX 400
#define WIDTH_MIN_PX 240
#define HEIGHT_MIN_PX 160
#define SIZE_MAX_PX 8192
/* Margins around the plot area: the title on top, tick and axis labels left and below. */
#define MARGIN_LEFT_PX 64.0
#define MARGIN_RIGHT_PX 16.0
#define MARGIN_TOP_PX 40.0
#define MARGIN_BOTTOM_PX 52.0
/* Intervals on the y axis (Y_INTERVALS + 1 labelled ticks). */
#define Y_INTERVALS 5
/* A numeric x axis aims at this many intervals (the step rounds up, so 5 to 10). */
#define X_INTERVALS_TARGET 10
/* Labelled categories at most; beyond, every k-th is labelled. */
#define CATEGORY_LABELS_MAX 20
/* Larger magnitudes are no value: far beyond money or counts, and their sums stay finite. */
#define VALUE_ABS_MAX 1e300
/* An estimate of a legend character's width at font-size 12, for the legend's box. */
#define CHAR_WIDTH_PX 7.0

/* Okabe & Ito's palette, distinguishable with every common colour-vision deficiency. */
static const char *const PALETTE[SVG_SERIES_MAX] = {"#0072B2", "#D55E00", "#009E73",
                                                    "#CC79A7", "#E69F00", "#56B4E9"};

/* The picture, its plot area and the data ranges the area shows. */
typedef struct plot {
    double width, height;            /* the picture */
    double left, top, right, bottom; /* the plot area's edges */
    double x_min, x_max;             /* a line chart's x range (x_min < x_max) */
    double y_first, y_step;          /* y ticks are (y_first + i) * y_step, i = 0..Y_INTERVALS */
    double y_min, y_max;             /* the y range, the first and last tick */
} plot;

/* Whether v is drawn (NAN and the absurdly large are no value). */
static bool
value_drawn(double v)
{
    return isfinite(v) && fabs(v) <= VALUE_ABS_MAX;
}

static void emit(arena_text *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends formatted text; only for markup and numbers, never user text (see emit_text). */
static void
emit(arena_text *out, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof buf);
    arena_text_append_len(out, buf, (size_t)n);
}

/* Appends user text, XML-escaped; NULL appends nothing. */
static void
emit_text(arena_text *out, const char *text)
{
    xml_escape_append(out, text);
}

/* The smallest 1, 2, 5 x 10^k (or 1, 2, 4, 5 x 10^k with ladder_1245) not below value. */
static double
nice_ceil(double value, bool ladder_1245)
{
    assert(value > 0 && isfinite(value));
    static const double LADDER_125[] = {1, 2, 5, 10};
    static const double LADDER_1245[] = {1, 2, 4, 5, 10};
    const double *ladder = ladder_1245 ? LADDER_1245 : LADDER_125;
    size_t rungs = ladder_1245 ? 5 : 4;
    double power = pow(10.0, floor(log10(value)));
    size_t i = 0;
    while (i + 1 < rungs && ladder[i] * power < value * (1 - 1e-9))
        i++;
    assert(ladder[i] * power >= value * (1 - 1e-9)); /* the last rung is the next power of 10 */
    return ladder[i] * power;
}

/* The picture's size and the plot area inside its margins. */
static plot
plot_layout(const svg_chart *chart)
{
    int width = chart->width > 0 ? chart->width : WIDTH_DEFAULT_PX;
    int height = chart->height > 0 ? chart->height : HEIGHT_DEFAULT_PX;
    width = width < WIDTH_MIN_PX ? WIDTH_MIN_PX : width > SIZE_MAX_PX ? SIZE_MAX_PX : width;
    height = height < HEIGHT_MIN_PX ? HEIGHT_MIN_PX : height > SIZE_MAX_PX ? SIZE_MAX_PX : height;
    plot p = {.width = width, .height = height};
    p.left = MARGIN_LEFT_PX;
    p.top = MARGIN_TOP_PX;
    p.right = p.width - MARGIN_RIGHT_PX;
    p.bottom = p.height - MARGIN_BOTTOM_PX;
    assert(p.left < p.right && p.top < p.bottom);
    return p;
}

/* The y ticks from lo <= 0 to hi > lo: the smallest step on the ladder whose Y_INTERVALS steps
 * from first = floor(lo / step) reach hi. */
static void
y_ticks(double lo, double hi, double *first, double *step)
{
    assert(lo <= 0 && lo < hi);
    double tolerance = (hi - lo) * 1e-9;
    *step = nice_ceil((hi - lo) / Y_INTERVALS, true);
    /* From floor(lo / step), the top may fall a step short of hi: then the next rung. */
    for (int i = 0; i < 8 && (floor(lo / *step) + Y_INTERVALS) * *step < hi - tolerance; i++)
        *step = nice_ceil(*step * 1.01, true);
    *first = floor(lo / *step);
    assert(*first * *step <= lo + tolerance);
    assert((*first + Y_INTERVALS) * *step >= hi - tolerance);
}

/* Fits the y axis to the values of every series, 0 included (at the top when none is above). */
static void
plot_fit_y(plot *p, const svg_series *series, size_t series_count, size_t count)
{
    double lo = 0, hi = 0;
    for (size_t s = 0; s < series_count; s++)
        for (size_t i = 0; i < count; i++)
            if (value_drawn(series[s].values[i])) {
                lo = fmin(lo, series[s].values[i]);
                hi = fmax(hi, series[s].values[i]);
            }
    if (hi - lo < 1e-290) /* no values, all zero, or too narrow to divide */
        hi = lo + 1;
    if (hi == 0) {
        /* All at or below 0: the mirror image's ticks, so 0 is the top as it would be the bottom.
         */
        y_ticks(0, -lo, &p->y_first, &p->y_step);
        p->y_first = -(p->y_first + Y_INTERVALS);
    } else {
        y_ticks(lo, hi, &p->y_first, &p->y_step);
    }
    p->y_min = p->y_first * p->y_step;
    p->y_max = (p->y_first + Y_INTERVALS) * p->y_step;
    assert(p->y_min < p->y_max);
}

/* Fits the x axis to the drawn x values (one value, or none, gets a range around it). */
static void
plot_fit_x(plot *p, const double *x, size_t count)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < count; i++)
        if (value_drawn(x[i])) {
            lo = fmin(lo, x[i]);
            hi = fmax(hi, x[i]);
        }
    if (lo > hi)
        lo = hi = 0;
    if (!(lo < hi)) {
        double half = fmax(1.0, fabs(lo) * 0.01);
        lo -= half;
        hi += half;
    }
    p->x_min = lo;
    p->x_max = hi;
    assert(p->x_min < p->x_max);
}

/* The pixel column of x (a line chart's). */
static double
map_x(const plot *p, double x)
{
    return p->left + (x - p->x_min) / (p->x_max - p->x_min) * (p->right - p->left);
}

/* The pixel row of value y. */
static double
map_y(const plot *p, double y)
{
    return p->bottom - (y - p->y_min) / (p->y_max - p->y_min) * (p->bottom - p->top);
}

/* Formats a tick value: 4 significant digits, or as many as ticks step apart need to differ;
 * k from 10^4, M from 10^6, G from 10^9 to 10^13, an exponent beyond. */
static void
format_tick(char *buf, size_t size, double value, double step)
{
    static const struct {
        double from, divisor;
        const char *suffix;
    } SCALES[] = {{1e9, 1e9, "G"}, {1e6, 1e6, "M"}, {1e4, 1e3, "k"}, {0, 1, ""}};
    double magnitude = fabs(value);
    if (magnitude < step * 1e-9)
        value = magnitude = 0; /* a zero computed as a tiny remainder (or -0) */
    double digits = 4;
    if (step > 0 && magnitude > step)
        digits = fmin(15, fmax(digits, ceil(log10(magnitude / step)) + 1));
    size_t k = magnitude < 1e13 ? 0 : 3; /* beyond 10^13, plain %g with its exponent */
    while (magnitude < SCALES[k].from)
        k++;
    assert(k < sizeof SCALES / sizeof SCALES[0]);
    int n = snprintf(buf, size, "%.*g%s", (int)digits, value / SCALES[k].divisor, SCALES[k].suffix);
    assert(n >= 0 && (size_t)n < size);
}

/* The one-line summary in <desc>: "Line chart of 2 series (a, b) over 78 points." */
static void
emit_desc(arena_text *out, const char *kind, const svg_series *series, size_t series_count,
          size_t count, const char *unit, const char *units)
{
    emit(out, "<desc id=\"chart-desc\">%s of %zu series (", kind, series_count);
    for (size_t s = 0; s < series_count; s++) {
        if (s > 0)
            emit(out, ", ");
        emit_text(out, series[s].name);
    }
    emit(out, ") over %zu %s.</desc>\n", count, count == 1 ? unit : units);
}

/* The prolog, the <svg> element, <title>, <desc> and a white background. */
static void
open_document(arena_text *out, const plot *p, const char *title, const char *kind,
              const svg_series *series, size_t series_count, size_t count, const char *unit,
              const char *units)
{
    emit(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    emit(out,
         "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
         "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" ",
         p->width, p->height, p->width, p->height);
    emit(out, "role=\"img\" aria-labelledby=\"chart-title chart-desc\" "
              "font-family=\"sans-serif\" font-size=\"12\">\n");
    emit(out, "<title id=\"chart-title\">");
    emit_text(out, title);
    emit(out, "</title>\n");
    emit_desc(out, kind, series, series_count, count, unit, units);
    emit(out, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", p->width, p->height);
}

/* The visible title above the plot and the axis labels beside it (NULL: none). */
static void
draw_labels(arena_text *out, const plot *p, const char *title, const svg_chart *chart)
{
    emit(out, "<text x=\"%.2f\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", p->left);
    emit_text(out, title);
    emit(out, "</text>\n");
    if (chart->x_label != NULL) {
        emit(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", (p->left + p->right) / 2,
             p->height - 10);
        emit_text(out, chart->x_label);
        emit(out, "</text>\n");
    }
    if (chart->y_label != NULL) {
        emit(out, "<text transform=\"translate(16 %.2f) rotate(-90)\" text-anchor=\"middle\">",
             (p->top + p->bottom) / 2);
        emit_text(out, chart->y_label);
        emit(out, "</text>\n");
    }
}

/* Grid lines and labels at the y ticks (darker at 0), and the axis lines. */
static void
draw_y_axis(arena_text *out, const plot *p)
{
    char label[48];
    for (int i = 0; i <= Y_INTERVALS; i++) {
        double value = (p->y_first + i) * p->y_step;
        double y = map_y(p, value);
        emit(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
             p->left, y, p->right, y, p->y_first + i == 0 ? "#888" : "#e4e4e4");
        format_tick(label, sizeof label, value, p->y_step);
        emit(out, "<text class=\"y-tick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n",
             p->left - 6, y + 4, label);
    }
    emit(out, "<path d=\"M%.2f %.2fV%.2fH%.2f\" fill=\"none\" stroke=\"#888\"/>\n", p->left, p->top,
         p->bottom, p->right);
}

/* A tick mark below the plot at x, labelled by the text that follows (closed by the caller). */
static void
open_x_tick(arena_text *out, const plot *p, double x)
{
    emit(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#888\"/>\n", x,
         p->bottom, x, p->bottom + 5);
    emit(out, "<text class=\"x-tick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", x,
         p->bottom + 18);
}

/* The line chart's x ticks: 1, 2 or 5 x 10^k apart, about X_INTERVALS_TARGET of them. */
static void
draw_x_axis_numeric(arena_text *out, const plot *p)
{
    double step = nice_ceil((p->x_max - p->x_min) / X_INTERVALS_TARGET, false);
    double first = ceil(p->x_min / step);
    char label[48];
    for (int i = 0; i <= X_INTERVALS_TARGET; i++) {
        double value = (first + i) * step;
        if (value > p->x_max + step * 1e-9)
            break;
        format_tick(label, sizeof label, value, step);
        open_x_tick(out, p, map_x(p, value));
        emit(out, "%s</text>\n", label);
    }
}

/* The bar chart's category labels, every k-th of them beyond CATEGORY_LABELS_MAX. */
static void
draw_x_axis_categories(arena_text *out, const plot *p, const char *const *categories, size_t count)
{
    assert(count > 0);
    size_t every = (count + CATEGORY_LABELS_MAX - 1) / CATEGORY_LABELS_MAX;
    double band = (p->right - p->left) / (double)count;
    for (size_t i = 0; i < count; i += every) {
        open_x_tick(out, p, p->left + ((double)i + 0.5) * band);
        emit_text(out, categories[i]);
        emit(out, "</text>\n");
    }
}

/* Whether point i of a line is drawn (its x and its value). */
static bool
point_drawn(const double *x, const svg_series *s, size_t i)
{
    return value_drawn(x[i]) && value_drawn(s->values[i]);
}

/* One series as a path, a new subpath after every gap; a point alone between gaps gets a dot. */
static void
draw_line(arena_text *out, const plot *p, const double *x, size_t count, const svg_series *s,
          const char *colour)
{
    emit(out, "<path class=\"line\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"", colour);
    emit(out, " stroke-linejoin=\"round\"%s d=\"", s->dashed ? " stroke-dasharray=\"6 4\"" : "");
    bool pen_down = false;
    for (size_t i = 0; i < count; i++) {
        if (!point_drawn(x, s, i)) {
            pen_down = false;
            continue;
        }
        emit(out, "%s%.2f %.2f", pen_down ? "L" : "M", map_x(p, x[i]), map_y(p, s->values[i]));
        pen_down = true;
    }
    emit(out, "\"/>\n");
    for (size_t i = 0; i < count; i++)
        if (point_drawn(x, s, i) && (i == 0 || !point_drawn(x, s, i - 1)) &&
            (i + 1 == count || !point_drawn(x, s, i + 1)))
            emit(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"%s\"/>\n", map_x(p, x[i]),
                 map_y(p, s->values[i]), colour);
}

/* Series s of a bar chart: one bar in each category's band, from 0 to its value. */
static void
draw_bars(arena_text *out, const plot *p, size_t count, const svg_series *series,
          size_t series_count, size_t s)
{
    assert(s < series_count);
    double band = (p->right - p->left) / (double)count;
    double bar = band * 0.8 / (double)series_count;
    double zero = map_y(p, 0);
    const char *colour = PALETTE[s];
    for (size_t i = 0; i < count; i++) {
        if (!value_drawn(series[s].values[i]))
            continue;
        double y = map_y(p, series[s].values[i]);
        emit(out, "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"",
             p->left + ((double)i + 0.1) * band + (double)s * bar, fmin(y, zero), bar,
             fabs(zero - y));
        if (series[s].dashed)
            emit(out,
                 " fill=\"%s\" fill-opacity=\"0.35\" stroke=\"%s\" stroke-dasharray=\"4 2\"/>\n",
                 colour, colour);
        else
            emit(out, " fill=\"%s\"/>\n", colour);
    }
}

/* The number of characters (UTF-8 code points) in text, for the legend's width. */
static size_t
text_chars(const char *text)
{
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)text; c != NULL && *c != '\0'; c++)
        n += (*c & 0xC0) != 0x80;
    return n;
}

/* The legend at the top right of the plot: a swatch (a line or a box) and the name of each series.
 */
static void
draw_legend(arena_text *out, const plot *p, const svg_series *series, size_t series_count,
            bool bars)
{
    size_t chars = 0;
    for (size_t s = 0; s < series_count; s++)
        chars = text_chars(series[s].name) > chars ? text_chars(series[s].name) : chars;
    double width = fmin(36 + CHAR_WIDTH_PX * (double)chars, p->right - p->left - 8);
    double x = p->right - 4 - width, y = p->top + 4;
    emit(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#fff\"", x, y,
         width, 8 + 18 * (double)series_count);
    emit(out, " fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n");
    for (size_t s = 0; s < series_count; s++) {
        double row = y + 13 + 18 * (double)s;
        const char *dash = series[s].dashed ? (bars ? "4 2" : "6 4") : "none";
        if (bars)
            emit(out,
                 "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"10\" fill=\"%s\" "
                 "fill-opacity=\"%s\" stroke=\"%s\" stroke-dasharray=\"%s\"/>\n",
                 x + 8, row - 5, PALETTE[s], series[s].dashed ? "0.35" : "1", PALETTE[s], dash);
        else
            emit(out,
                 "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                 "stroke-width=\"2\" stroke-dasharray=\"%s\"/>\n",
                 x + 6, row, x + 24, row, PALETTE[s], dash);
        emit(out, "<text x=\"%.2f\" y=\"%.2f\">", x + 30, row + 4);
        emit_text(out, series[s].name);
        emit(out, "</text>\n");
    }
}

/* Closes the document and copies it out of the arena, which it releases. */
static char *
close_document(arena_text *out, arena *mem)
{
    emit(out, "</svg>\n");
    char *text = malloc(out->len + 1);
    if (text == NULL) {
        fputs("patron: out of memory drawing a chart\n", stderr);
        abort();
    }
    memcpy(text, out->text, out->len + 1);
    arena_release(mem);
    return text;
}

/* Whether the counts are in range (svg_chart.h: otherwise NULL); values must then be given. */
static bool
counts_valid(size_t count, const svg_series *series, size_t series_count)
{
    if (count == 0 || count > SVG_POINTS_MAX || series_count == 0 || series_count > SVG_SERIES_MAX)
        return false;
    assert(series != NULL);
    for (size_t s = 0; s < series_count; s++)
        assert(series[s].values != NULL);
    return true;
}

/* The title shown and read out: the chart's, or its kind when it has none. */
static const char *
title_of(const svg_chart *chart, const char *kind)
{
    return chart->title != NULL && chart->title[0] != '\0' ? chart->title : kind;
}

/* Fits the plot to x and the values, then writes axes, one path per series, the legend. */
char *
svg_line_chart(const svg_chart *chart, const double *x, size_t count, const svg_series *series,
               size_t series_count)
{
    if (!counts_valid(count, series, series_count))
        return NULL;
    assert(chart != NULL);
    assert(x != NULL);
    plot p = plot_layout(chart);
    plot_fit_x(&p, x, count);
    plot_fit_y(&p, series, series_count, count);
    const char *title = title_of(chart, "Line chart");
    arena mem = {0};
    arena_text out = {.mem = &mem};
    open_document(&out, &p, title, "Line chart", series, series_count, count, "point", "points");
    draw_labels(&out, &p, title, chart);
    draw_y_axis(&out, &p);
    draw_x_axis_numeric(&out, &p);
    for (size_t s = 0; s < series_count; s++)
        draw_line(&out, &p, x, count, &series[s], PALETTE[s]);
    draw_legend(&out, &p, series, series_count, false);
    return close_document(&out, &mem);
}

/* Fits the y axis to the values, then writes axes, the bars series by series, the legend. */
char *
svg_bar_chart(const svg_chart *chart, const char *const *categories, size_t count,
              const svg_series *series, size_t series_count)
{
    if (!counts_valid(count, series, series_count))
        return NULL;
    assert(chart != NULL);
    assert(categories != NULL);
    plot p = plot_layout(chart);
    plot_fit_y(&p, series, series_count, count);
    const char *title = title_of(chart, "Bar chart");
    arena mem = {0};
    arena_text out = {.mem = &mem};
    open_document(&out, &p, title, "Bar chart", series, series_count, count, "category",
                  "categories");
    draw_labels(&out, &p, title, chart);
    draw_y_axis(&out, &p);
    draw_x_axis_categories(&out, &p, categories, count);
    for (size_t s = 0; s < series_count; s++)
        draw_bars(&out, &p, count, series, series_count, s);
    draw_legend(&out, &p, series, series_count, true);
    return close_document(&out, &mem);
}
