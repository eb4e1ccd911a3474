/* sn_cli_json_string (src/cli/cli_common.c, through cJSON): quoting and escaping, UTF-8 kept,
 * truncation to the buffer without cutting an escape sequence. */
#include "cli/cli.h"
#include "sn_test.h"

#include <string.h>

static void check(const char *in, size_t cap, const char *want)
{
    char out[256];
    memset(out, 'x', sizeof out);
    sn_cli_json_string(in, out, cap);
    EXPECT_MSG(strcmp(out, want) == 0 && strlen(out) < cap, "'%s' (cap %zu): got %s, want %s", in, cap,
               out, want);
}

int main(void)
{
    check("plain name.png", 64, "\"plain name.png\"");
    check("a\"b\\c", 64, "\"a\\\"b\\\\c\"");
    check("tab\there\nnl", 64, "\"tab\\there\\nnl\"");
    check("bell\001", 64, "\"bell\\u0001\"");
    check("gr\xc3\xbc\xc3\x9f", 64, "\"gr\xc3\xbc\xc3\x9f\""); /* UTF-8 bytes copied */
    check("", 8, "\"\"");
    /* truncation: as much as fits, closed with a quote */
    check("aaaaaaaaaaaaaaaaaaaa", 16, "\"aaaaaaaaaaaaa\"");
    /* an escape sequence is never cut: "ab\"" needs 4 more bytes than "ab" */
    check("abc\"def", 8, "\"abc\\\"\"");
    check("abcd\"ef", 8, "\"abcd\"");
    check("ab\001cdef", 9, "\"ab\"");
    check("ab\001cdef", 10, "\"ab\"");
    check("ab\001cdef", 11, "\"ab\\u0001\"");
    return sn_test_finish();
}
