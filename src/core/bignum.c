#include "bignum.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool from_hex(const char *s, int64_t nbits, uint8_t *bits, char *why, size_t whylen)
{
    int64_t want = (nbits + 3) / 4, ndig = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '_' || isspace((unsigned char)*p))
            continue;
        if (hexval((unsigned char)*p) < 0) {
            snprintf(why, whylen, "'%c' is not a hex digit", *p);
            return false;
        }
        ndig++;
    }
    if (ndig != want) {
        snprintf(why, whylen,
                 "a table of %lld patterns needs exactly %lld hex digits (bit i = output of "
                 "pattern i, most significant digit first), got %lld",
                 (long long)nbits, (long long)want, (long long)ndig);
        return false;
    }
    memset(bits, 0, (size_t)nbits);
    int64_t d = want - 1; /* digit position from the right */
    for (const char *p = s; *p; p++) {
        int v = hexval((unsigned char)*p);
        if (v < 0)
            continue;
        for (int b = 0; b < 4; b++) {
            int64_t i = 4 * d + b;
            if ((v >> b) & 1) {
                if (i >= nbits) {
                    snprintf(why, whylen,
                             "the number has bit %lld set but the table has only %lld patterns",
                             (long long)i, (long long)nbits);
                    return false;
                }
                bits[i] = 1;
            }
        }
        d--;
    }
    return true;
}

static bool from_decimal(const char *s, int64_t nbits, uint8_t *bits, char *why, size_t whylen)
{
    size_t len = strlen(s);
    if (len == 0) {
        snprintf(why, whylen, "expected a rule number");
        return false;
    }
    /* Little-endian 32-bit limbs; log2(10) < 3.33 bits per digit. */
    size_t nlimb = len / 9 + 2;
    uint32_t *limb = calloc(nlimb, sizeof *limb);
    if (!limb) {
        snprintf(why, whylen, "out of memory");
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            snprintf(why, whylen, "'%s' is not a decimal number (use 0x... for hex)", s);
            free(limb);
            return false;
        }
        uint64_t carry = (uint64_t)(s[i] - '0');
        for (size_t j = 0; j < nlimb; j++) {
            uint64_t v = (uint64_t)limb[j] * 10u + carry;
            limb[j] = (uint32_t)v;
            carry = v >> 32;
        }
    }
    memset(bits, 0, (size_t)nbits);
    bool ok = true;
    for (size_t j = 0; j < nlimb && ok; j++)
        for (int b = 0; b < 32; b++) {
            if (!((limb[j] >> b) & 1u))
                continue;
            int64_t i = (int64_t)j * 32 + b;
            if (i >= nbits) {
                snprintf(why, whylen,
                         "rule number %s is too large for a table of %lld patterns (it must be "
                         "below 2^%lld)", s, (long long)nbits, (long long)nbits);
                ok = false;
                break;
            }
            bits[i] = 1;
        }
    free(limb);
    return ok;
}

bool dca_table_bits(const char *s, bool is_hex, int64_t nbits, uint8_t *bits, char *why,
                    size_t whylen)
{
    if (!is_hex && (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)) {
        is_hex = true;
        s += 2;
    }
    return is_hex ? from_hex(s, nbits, bits, why, whylen)
                  : from_decimal(s, nbits, bits, why, whylen);
}
