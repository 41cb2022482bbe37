/*
 * reputation/config.c — the settlement and reputation parameters: defaults, checks, and the
 * JSON form (one member per parameter, as the configuration table will hold them).
 */
#include <stddef.h>
#include <string.h>

#include "core/json.h"
#include "reputation/reputation.h"

#define DAY_MS 86400000LL

void reputation_config_default(struct reputation_config *cfg_out)
{
    *cfg_out = (struct reputation_config){
        .bond_amount_min = 100,
        .window_ms_min = 3600000,
        .window_ms_max = 90 * DAY_MS,
        .challenge_stake_min_bps = 10000,
        .jury_seats = 5,
        .appeal_jury_seats = 11,
        .seat_deposit = 1000,
        .appeal_seat_deposit = 1000,
        .juror_stake_min = 1000,
        .juror_weight_cap_bps = 1000,
        .jury_distinct = false,
        .commit_ms = DAY_MS,
        .reveal_ms = DAY_MS,
        .appeal_window_ms = 2 * DAY_MS,
        .appeal_fee_bps = 10000,
        .burn_bps = 2500,
        .juror_reward_bps = 1000,
        .undecided_burn_bps = 500,
        .prior_alpha_milli = 1000,
        .prior_beta_milli = 1000,
        .half_life_ms = 180 * DAY_MS,
        .credible_milli = 950,
        .established_evidence_milli = 5000,
        .established_stake = 10000,
        .factor_min_bps = 5000,
        .factor_max_bps = 15000,
    };
}

enum field_type { FIELD_INT, FIELD_BOOL };

struct field {
    const char *name;
    size_t offset;
    enum field_type type;
    int64_t min;
    int64_t max;
};

#define INT_FIELD(n, lo, hi)                                                                       \
    {                                                                                              \
#n, offsetof(struct reputation_config, n), FIELD_INT, lo, hi                               \
    }
#define MS_MAX (3650 * DAY_MS)

static const struct field fields[] = {
    INT_FIELD(bond_amount_min, 1, INT64_MAX),
    INT_FIELD(window_ms_min, 1, MS_MAX),
    INT_FIELD(window_ms_max, 1, MS_MAX),
    INT_FIELD(challenge_stake_min_bps, 1, 1000000),
    INT_FIELD(jury_seats, 1, LODE_JURY_SEATS_MAX),
    INT_FIELD(appeal_jury_seats, 1, LODE_JURY_SEATS_MAX),
    INT_FIELD(seat_deposit, 1, INT64_MAX / LODE_JURY_SEATS_MAX),
    INT_FIELD(appeal_seat_deposit, 1, INT64_MAX / LODE_JURY_SEATS_MAX),
    INT_FIELD(juror_stake_min, 1, INT64_MAX),
    INT_FIELD(juror_weight_cap_bps, 1, REPUTATION_BPS),
    {"jury_distinct", offsetof(struct reputation_config, jury_distinct), FIELD_BOOL, 0, 1},
    INT_FIELD(commit_ms, 1, MS_MAX),
    INT_FIELD(reveal_ms, 1, MS_MAX),
    INT_FIELD(appeal_window_ms, 1, MS_MAX),
    INT_FIELD(appeal_fee_bps, 0, 1000000),
    INT_FIELD(burn_bps, 0, REPUTATION_BPS),
    INT_FIELD(juror_reward_bps, 0, REPUTATION_BPS),
    INT_FIELD(undecided_burn_bps, 0, REPUTATION_BPS),
    INT_FIELD(prior_alpha_milli, 1, 1000000),
    INT_FIELD(prior_beta_milli, 1, 1000000),
    INT_FIELD(half_life_ms, 1, MS_MAX),
    INT_FIELD(credible_milli, 500, 999),
    INT_FIELD(established_evidence_milli, 0, 1000000000),
    INT_FIELD(established_stake, 0, INT64_MAX),
    INT_FIELD(factor_min_bps, 1, 100000),
    INT_FIELD(factor_max_bps, 1, 100000),
};

#define FIELD_COUNT (sizeof fields / sizeof fields[0])

enum lode_code reputation_config_check(const struct reputation_config *cfg, struct lode_error *err)
{
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        int64_t v;
        if (f->type == FIELD_BOOL)
            continue;
        memcpy(&v, (const char *)cfg + f->offset, sizeof v);
        if (v < f->min || v > f->max) {
            lode_error_set(err, LODE_EINVAL, "%s must be between %lld and %lld", f->name,
                           (long long)f->min, (long long)f->max);
            lode_error_pointer(err, f->name);
            return LODE_EINVAL;
        }
    }
#define RELATION(cond, field, ...)                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            lode_error_set(err, LODE_EINVAL, __VA_ARGS__);                                         \
            lode_error_pointer(err, field);                                                        \
            return LODE_EINVAL;                                                                    \
        }                                                                                          \
    } while (0)
    RELATION(cfg->window_ms_min <= cfg->window_ms_max, "window_ms_max",
             "window_ms_max must not be below window_ms_min");
    RELATION(cfg->jury_seats % 2 == 1, "jury_seats", "jury_seats must be odd");
    RELATION(cfg->appeal_jury_seats % 2 == 1, "appeal_jury_seats", "appeal_jury_seats must be odd");
    RELATION(cfg->appeal_jury_seats > cfg->jury_seats, "appeal_jury_seats",
             "appeal_jury_seats must exceed jury_seats");
    RELATION(cfg->burn_bps + cfg->juror_reward_bps <= REPUTATION_BPS, "juror_reward_bps",
             "burn_bps and juror_reward_bps must not exceed 10000 together");
    RELATION(cfg->factor_min_bps <= cfg->factor_max_bps, "factor_max_bps",
             "factor_max_bps must not be below factor_min_bps");
#undef RELATION
    return LODE_OK;
}

enum lode_code reputation_config_parse(const char *json, size_t len,
                                       struct reputation_config *cfg_out, struct lode_error *err)
{
    const char *allowed[FIELD_COUNT + 1];
    struct reputation_config cfg;
    enum lode_code rc;
    json_t *root;

    root = json_body_parse(json, len, LODE_REPUTATION_CONFIG_BYTES_MAX, 2, err);
    if (root == NULL)
        return err != NULL && err->code != LODE_OK ? err->code : LODE_EINVAL;
    if (!json_is_object(root)) {
        json_decref(root);
        return lode_error_set(err, LODE_EINVAL, "configuration must be a JSON object");
    }
    for (size_t i = 0; i < FIELD_COUNT; i++)
        allowed[i] = fields[i].name;
    allowed[FIELD_COUNT] = NULL;
    rc = json_object_check_fields(root, allowed, err);
    reputation_config_default(&cfg);
    for (size_t i = 0; rc == LODE_OK && i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        char *at = (char *)&cfg + f->offset;
        if (f->type == FIELD_BOOL) {
            bool b = false;
            memcpy(&b, at, sizeof b);
            rc = json_get_bool(root, f->name, false, &b, err);
            memcpy(at, &b, sizeof b);
        } else {
            int64_t v;
            memcpy(&v, at, sizeof v);
            rc = json_get_int(root, f->name, false, f->min, f->max, &v, err);
            memcpy(at, &v, sizeof v);
        }
    }
    json_decref(root);
    if (rc == LODE_OK)
        rc = reputation_config_check(&cfg, err);
    if (rc == LODE_OK)
        *cfg_out = cfg;
    return rc;
}

json_t *reputation_config_json(const struct reputation_config *cfg)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        const char *at = (const char *)cfg + f->offset;
        json_t *v;
        if (f->type == FIELD_BOOL) {
            bool b;
            memcpy(&b, at, sizeof b);
            v = json_boolean(b);
        } else {
            int64_t n;
            memcpy(&n, at, sizeof n);
            v = json_integer((json_int_t)n);
        }
        if (v == NULL || json_object_set_new(obj, f->name, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
