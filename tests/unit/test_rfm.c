/* test_rfm.c -- RFM scoring: the 25 cells of the segment grid, quintiles of
 * distinct values (20 of each score in 100), ties sharing a score, recency
 * scored the other way round, segment keys and names, one and no customers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/rfm.h"

static void
test_grid(void **state)
{
    (void)state;
    /* rfm.h's table, top row R=5 down to R=1, columns F=1..5. */
    static const rfm_segment expected[5][5] = {
        {RFM_NEW, RFM_POTENTIAL_LOYALISTS, RFM_POTENTIAL_LOYALISTS, RFM_CHAMPIONS, RFM_CHAMPIONS},
        {RFM_PROMISING, RFM_POTENTIAL_LOYALISTS, RFM_POTENTIAL_LOYALISTS, RFM_LOYAL, RFM_LOYAL},
        {RFM_ABOUT_TO_SLEEP, RFM_ABOUT_TO_SLEEP, RFM_NEED_ATTENTION, RFM_LOYAL, RFM_LOYAL},
        {RFM_HIBERNATING, RFM_HIBERNATING, RFM_AT_RISK, RFM_AT_RISK, RFM_CANT_LOSE_THEM},
        {RFM_LOST, RFM_LOST, RFM_AT_RISK, RFM_AT_RISK, RFM_CANT_LOSE_THEM},
    };
    for (int r = 1; r <= 5; r++)
        for (int f = 1; f <= 5; f++)
            if (rfm_segment_of(r, f) != expected[5 - r][f - 1])
                fail_msg("R=%d F=%d: expected %s, got %s", r, f,
                         rfm_segment_key(expected[5 - r][f - 1]),
                         rfm_segment_key(rfm_segment_of(r, f)));
    /* Every segment is reachable. */
    int seen[RFM_SEGMENT_COUNT] = {0};
    for (int r = 1; r <= 5; r++)
        for (int f = 1; f <= 5; f++)
            seen[rfm_segment_of(r, f)]++;
    for (int s = 0; s < RFM_SEGMENT_COUNT; s++)
        assert_true(seen[s] > 0);
}

static void
test_quintiles_of_distinct_values(void **state)
{
    (void)state;
    enum { N = 100 };
    rfm_input in[N];
    rfm_score out[N];
    /* Shuffled by a stride coprime with 100, so input order is not rank order. */
    for (int i = 0; i < N; i++) {
        int v = (i * 37) % N;
        in[i] = (rfm_input){v, v + 1, (int64_t)v * 1000};
    }
    assert_true(rfm_score_all(in, N, out));
    int r_count[6] = {0}, f_count[6] = {0}, m_count[6] = {0};
    for (int i = 0; i < N; i++) {
        r_count[out[i].r]++;
        f_count[out[i].f]++;
        m_count[out[i].m]++;
        int v = (i * 37) % N;
        assert_int_equal(out[i].f, 1 + v / 20); /* rank v: v customers have fewer purchases */
        assert_int_equal(out[i].m, out[i].f);
        assert_int_equal(out[i].r, 6 - out[i].f); /* recency: fewer days scores higher */
        assert_int_equal(out[i].segment, rfm_segment_of(out[i].r, out[i].f));
    }
    for (int s = 1; s <= 5; s++) {
        assert_int_equal(r_count[s], 20);
        assert_int_equal(f_count[s], 20);
        assert_int_equal(m_count[s], 20);
    }
}

static void
test_ties_share_a_score(void **state)
{
    (void)state;
    enum { N = 50 };
    rfm_input in[N];
    rfm_score out[N];
    /* 30 one-time buyers, then frequencies 2..21. */
    for (int i = 0; i < N; i++)
        in[i] = (rfm_input){10, i < 30 ? 1 : i - 28, 500};
    assert_true(rfm_score_all(in, N, out));
    for (int i = 0; i < 30; i++)
        assert_int_equal(out[i].f, 1);
    /* Frequency 2 has 30 strictly below it: 1 + 5 * 30 / 50 = 4. */
    assert_int_equal(out[30].f, 4);
    /* Frequency 21 (the best) has 49 below: 1 + 5 * 49 / 50 = 5. */
    assert_int_equal(out[N - 1].f, 5);
    /* Everyone ties on recency and spend: nobody is strictly worse, all score 1. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(out[i].r, 1);
        assert_int_equal(out[i].m, 1);
    }
}

static void
test_recency_direction(void **state)
{
    (void)state;
    rfm_input in[5] = {{400, 3, 100}, {2, 3, 100}, {90, 3, 100}, {30, 3, 100}, {200, 3, 100}};
    rfm_score out[5];
    assert_true(rfm_score_all(in, 5, out));
    assert_int_equal(out[0].r, 1); /* 400 days ago: the worst */
    assert_int_equal(out[4].r, 2);
    assert_int_equal(out[2].r, 3);
    assert_int_equal(out[3].r, 4);
    assert_int_equal(out[1].r, 5); /* 2 days ago: the best */
}

static void
test_segments_of_scored_customers(void **state)
{
    (void)state;
    /* Recent and frequent against long gone one-time buyers. */
    enum { N = 10 };
    rfm_input in[N];
    rfm_score out[N];
    for (int i = 0; i < N; i++)
        in[i] = (rfm_input){i < 2 ? 1 + i : 300 + i, i < 2 ? 50 - i : 1, 100};
    assert_true(rfm_score_all(in, N, out));
    assert_int_equal(out[0].segment, RFM_CHAMPIONS);
    assert_int_equal(out[1].segment, RFM_CHAMPIONS);
    assert_int_equal(out[N - 1].segment, RFM_LOST);
}

static void
test_keys_and_names(void **state)
{
    (void)state;
    static const char *const keys[RFM_SEGMENT_COUNT] = {"champions",
                                                        "loyal",
                                                        "potential_loyalists",
                                                        "new",
                                                        "promising",
                                                        "need_attention",
                                                        "about_to_sleep",
                                                        "at_risk",
                                                        "cant_lose_them",
                                                        "hibernating",
                                                        "lost"};
    static const char *const names[RFM_SEGMENT_COUNT] = {"Champions",
                                                         "Loyal",
                                                         "Potential loyalists",
                                                         "New",
                                                         "Promising",
                                                         "Need attention",
                                                         "About to sleep",
                                                         "At risk",
                                                         "Can't lose them",
                                                         "Hibernating",
                                                         "Lost"};
    for (int s = 0; s < RFM_SEGMENT_COUNT; s++) {
        assert_string_equal(rfm_segment_key((rfm_segment)s), keys[s]);
        assert_string_equal(rfm_segment_name((rfm_segment)s), names[s]);
        rfm_segment back = RFM_SEGMENT_COUNT;
        assert_true(rfm_segment_from_key(keys[s], &back));
        assert_int_equal(back, s);
    }
    rfm_segment untouched = RFM_LOST;
    assert_false(rfm_segment_from_key("champion", &untouched));
    assert_false(rfm_segment_from_key("Champions", &untouched));
    assert_false(rfm_segment_from_key("", &untouched));
    assert_false(rfm_segment_from_key(NULL, &untouched));
    assert_int_equal(untouched, RFM_LOST);
}

static void
test_one_and_no_customers(void **state)
{
    (void)state;
    rfm_input one = {5, 1, 100};
    rfm_score out = {0, 0, 0, RFM_CHAMPIONS};
    assert_true(rfm_score_all(&one, 1, &out));
    /* Nobody is strictly worse than the only customer. */
    assert_int_equal(out.r, 1);
    assert_int_equal(out.f, 1);
    assert_int_equal(out.m, 1);
    assert_int_equal(out.segment, RFM_LOST);
    assert_true(rfm_score_all(NULL, 0, NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid),
        cmocka_unit_test(test_quintiles_of_distinct_values),
        cmocka_unit_test(test_ties_share_a_score),
        cmocka_unit_test(test_recency_direction),
        cmocka_unit_test(test_segments_of_scored_customers),
        cmocka_unit_test(test_keys_and_names),
        cmocka_unit_test(test_one_and_no_customers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
