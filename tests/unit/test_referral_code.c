/* test_referral_code.c -- referral codes: round trip, distinct codes, bad codes refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/referral_code.h"

static referral_key
key_of(const char *hex)
{
    referral_key key;
    assert_true(referral_key_parse(hex, &key));
    return key;
}

static void
test_round_trip(void **state)
{
    (void)state;
    referral_key key = key_of("00112233445566778899aabbccddeeff");
    static const int64_t IDS[] = {1, 2, 3, 31, 32, 1000, 123456789, REFERRAL_CODE_ID_MAX - 1, REFERRAL_CODE_ID_MAX};
    for (size_t i = 0; i < sizeof IDS / sizeof IDS[0]; i++) {
        char code[REFERRAL_CODE_BYTES];
        assert_true(referral_code_encode(&key, IDS[i], code));
        assert_int_equal(strlen(code), REFERRAL_CODE_CHARS);
        int64_t back = 0;
        assert_true(referral_code_decode(&key, code, &back));
        assert_int_equal(back, IDS[i]);
        for (char *c = code; *c; c++) /* people type codes in lowercase */
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        back = 0;
        assert_true(referral_code_decode(&key, code, &back));
        assert_int_equal(back, IDS[i]);
    }
}

static void
test_ids_outside_range_have_no_code(void **state)
{
    (void)state;
    referral_key key = key_of("00112233445566778899aabbccddeeff");
    char code[REFERRAL_CODE_BYTES] = "x";
    assert_false(referral_code_encode(&key, 0, code));
    assert_string_equal(code, "");
    assert_false(referral_code_encode(&key, -5, code));
    assert_false(referral_code_encode(&key, REFERRAL_CODE_ID_MAX + 1, code));
}

/* Codes of consecutive ids are distinct and share no long prefix: not guessable in sequence. */
static void
test_distinct_and_scattered(void **state)
{
    (void)state;
    referral_key key = key_of("0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    enum { N = 4096 };
    static char codes[N][REFERRAL_CODE_BYTES];
    int same_prefix = 0;
    for (int i = 0; i < N; i++) {
        assert_true(referral_code_encode(&key, i + 1, codes[i]));
        if (i > 0 && memcmp(codes[i], codes[i - 1], 4) == 0)
            same_prefix++;
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_true(strcmp(codes[i], codes[j]) != 0);
    assert_true(same_prefix < 4);
    /* Another key, other codes. */
    referral_key other = key_of("0f1e2d3c4b5a69788796a5b4c3d2e1f1");
    char code[REFERRAL_CODE_BYTES];
    int equal = 0;
    for (int i = 0; i < 64; i++) {
        assert_true(referral_code_encode(&other, i + 1, code));
        equal += strcmp(code, codes[i]) == 0;
    }
    assert_int_equal(equal, 0);
}

static void
test_bad_codes_refused(void **state)
{
    (void)state;
    referral_key key = key_of("00112233445566778899aabbccddeeff");
    char code[REFERRAL_CODE_BYTES];
    assert_true(referral_code_encode(&key, 4242, code));
    int64_t id = 0;
    static const char *const BAD[] = {"", "ABC", "ABCDEFGHJ", "ABCD EFG", "ABCD-EFG", "ABCDEFU1", "ÀBCDEFGH"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        assert_false(referral_code_decode(&key, BAD[i], &id));
    assert_false(referral_code_decode(&key, NULL, &id));
    /* Changing one character is caught by the tag almost always: count over every one-character change. */
    int accepted = 0, tried = 0;
    static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (int pos = 0; pos < REFERRAL_CODE_CHARS; pos++)
        for (int s = 0; s < 32; s++) {
            char typo[REFERRAL_CODE_BYTES];
            memcpy(typo, code, sizeof typo);
            if (typo[pos] == ALPHABET[s])
                continue;
            typo[pos] = ALPHABET[s];
            tried++;
            accepted += referral_code_decode(&key, typo, &id);
        }
    assert_true(accepted * 8 < tried); /* about 1 in 32 passes the tag */
    /* Another key does not read this code as the same member. */
    referral_key other = key_of("ffeeddccbbaa99887766554433221100");
    assert_false(referral_code_decode(&other, code, &id) && id == 4242);
}

static void
test_key_parse(void **state)
{
    (void)state;
    referral_key key;
    assert_false(referral_key_parse(NULL, &key));
    assert_false(referral_key_parse("", &key));
    assert_false(referral_key_parse("00112233445566778899aabbccddeef", &key));
    assert_false(referral_key_parse("00112233445566778899aabbccddeefg", &key));
    assert_true(referral_key_parse("00112233445566778899AABBCCDDEEFF", &key));
    assert_true(key.k[0] == UINT64_C(0x0011223344556677) && key.k[1] == UINT64_C(0x8899aabbccddeeff));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_ids_outside_range_have_no_code),
        cmocka_unit_test(test_distinct_and_scattered),
        cmocka_unit_test(test_bad_codes_refused),
        cmocka_unit_test(test_key_parse),
    };
    return cmocka_run_group_tests_name("referral_code", tests, NULL, NULL);
}
