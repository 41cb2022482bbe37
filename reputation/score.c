/*
 * reputation/score.c — Beta reputation with exponential time decay (docs/reputation.md,
 * "reputation"): each role of an account keeps decayed positive and negative evidence; the
 * score is the posterior Beta(prior_alpha + positive, prior_beta + negative).
 */
#include <math.h>
#include <string.h>

#include "reputation/reputation.h"

struct obs_rule {
    const char *name;
    enum reputation_role role;
    int64_t weight_milli;
};

static const struct obs_rule obs_rules[REPUTATION_OBS_COUNT] = {
    [REPUTATION_OBS_LABEL_GOLD_CORRECT] = {"label_gold_correct", REPUTATION_ROLE_LABELER, 1000},
    [REPUTATION_OBS_LABEL_GOLD_WRONG] = {"label_gold_wrong", REPUTATION_ROLE_LABELER, -1000},
    [REPUTATION_OBS_LABEL_CONSENSUS_AGREE] = {"label_consensus_agree", REPUTATION_ROLE_LABELER,
                                              500},
    [REPUTATION_OBS_LABEL_CONSENSUS_DISAGREE] = {"label_consensus_disagree",
                                                 REPUTATION_ROLE_LABELER, -500},
    [REPUTATION_OBS_BOND_UPHELD] = {"bond_upheld", REPUTATION_ROLE_PUBLISHER, 1000},
    [REPUTATION_OBS_BOND_UNCHALLENGED] = {"bond_unchallenged", REPUTATION_ROLE_PUBLISHER, 250},
    [REPUTATION_OBS_BOND_LOST] = {"bond_lost", REPUTATION_ROLE_PUBLISHER, -2000},
    [REPUTATION_OBS_ITEM_SYNTHETIC] = {"item_synthetic", REPUTATION_ROLE_PUBLISHER, -1000},
    [REPUTATION_OBS_ITEM_DUPLICATE] = {"item_duplicate", REPUTATION_ROLE_PUBLISHER, -250},
    [REPUTATION_OBS_CHALLENGE_WON] = {"challenge_won", REPUTATION_ROLE_FACT_CHECKER, 1000},
    [REPUTATION_OBS_CHALLENGE_LOST] = {"challenge_lost", REPUTATION_ROLE_FACT_CHECKER, -1000},
    [REPUTATION_OBS_JUROR_COHERENT] = {"juror_coherent", REPUTATION_ROLE_FACT_CHECKER, 500},
    [REPUTATION_OBS_JUROR_INCOHERENT] = {"juror_incoherent", REPUTATION_ROLE_FACT_CHECKER, -500},
    [REPUTATION_OBS_JUROR_NO_SHOW] = {"juror_no_show", REPUTATION_ROLE_FACT_CHECKER, -500},
};

static bool obs_is_valid(enum reputation_observation obs)
{
    return (int)obs >= 0 && obs < REPUTATION_OBS_COUNT;
}

enum reputation_role reputation_observation_role(enum reputation_observation obs)
{
    return obs_is_valid(obs) ? obs_rules[obs].role : REPUTATION_ROLE_COUNT;
}

int64_t reputation_observation_weight_milli(enum reputation_observation obs)
{
    return obs_is_valid(obs) ? obs_rules[obs].weight_milli : 0;
}

const char *reputation_observation_name(enum reputation_observation obs)
{
    return obs_is_valid(obs) ? obs_rules[obs].name : "unknown";
}

const char *reputation_role_name(enum reputation_role role)
{
    switch (role) {
    case REPUTATION_ROLE_LABELER:
        return "labeler";
    case REPUTATION_ROLE_PUBLISHER:
        return "publisher";
    case REPUTATION_ROLE_FACT_CHECKER:
        return "fact_checker";
    case REPUTATION_ROLE_COUNT:
        break;
    }
    return "unknown";
}

void reputation_record_init(struct reputation_record *rec, enum reputation_role role)
{
    memset(rec, 0, sizeof *rec);
    rec->role = role;
}

/* 2^(-elapsed / half_life) */
static double decay(const struct reputation_config *cfg, int64_t elapsed_ms)
{
    return exp2(-(double)elapsed_ms / (double)cfg->half_life_ms);
}

static enum lode_code check_record(const struct reputation_config *cfg,
                                   const struct reputation_record *rec, int64_t now_ms,
                                   struct lode_error *err)
{
    if ((int)rec->role < 0 || rec->role >= REPUTATION_ROLE_COUNT)
        return lode_error_set(err, LODE_EINVAL, "unknown reputation role");
    if (cfg->half_life_ms <= 0 || cfg->prior_alpha_milli <= 0 || cfg->prior_beta_milli <= 0)
        return lode_error_set(err, LODE_EINVAL, "reputation parameters are invalid");
    if (now_ms < rec->updated_at_ms)
        return lode_error_set(err, LODE_EINVAL, "time %lld precedes the last update at %lld",
                              (long long)now_ms, (long long)rec->updated_at_ms);
    return LODE_OK;
}

enum lode_code reputation_observe(const struct reputation_config *cfg,
                                  struct reputation_record *rec, enum reputation_observation obs,
                                  int64_t now_ms, struct lode_error *err)
{
    enum lode_code rc;
    double k, w;

    if ((rc = check_record(cfg, rec, now_ms, err)) != LODE_OK)
        return rc;
    if (!obs_is_valid(obs))
        return lode_error_set(err, LODE_EINVAL, "unknown observation");
    if (obs_rules[obs].role != rec->role)
        return lode_error_set(err, LODE_EINVAL, "observation %s does not apply to a %s",
                              obs_rules[obs].name, reputation_role_name(rec->role));
    k = rec->updated_at_ms > 0 ? decay(cfg, now_ms - rec->updated_at_ms) : 1.0;
    w = (double)obs_rules[obs].weight_milli / 1000.0;
    rec->positive = rec->positive * k + (w > 0 ? w : 0);
    rec->negative = rec->negative * k + (w < 0 ? -w : 0);
    rec->updated_at_ms = now_ms;
    if (rec->counts[obs] < INT64_MAX)
        rec->counts[obs]++;
    return LODE_OK;
}

enum lode_code reputation_score_compute(const struct reputation_config *cfg,
                                        const struct reputation_record *rec, int64_t now_ms,
                                        struct reputation_score *score_out, struct lode_error *err)
{
    struct reputation_score s;
    enum lode_code rc;
    double k, tail;

    if ((rc = check_record(cfg, rec, now_ms, err)) != LODE_OK)
        return rc;
    memset(&s, 0, sizeof s);
    k = rec->updated_at_ms > 0 ? decay(cfg, now_ms - rec->updated_at_ms) : 1.0;
    s.role = rec->role;
    s.positive = rec->positive * k;
    s.negative = rec->negative * k;
    s.alpha = (double)cfg->prior_alpha_milli / 1000.0 + s.positive;
    s.beta = (double)cfg->prior_beta_milli / 1000.0 + s.negative;
    s.mean = s.alpha / (s.alpha + s.beta);
    tail = (1.0 - (double)cfg->credible_milli / 1000.0) / 2.0;
    s.lower = reputation_beta_quantile(tail, s.alpha, s.beta);
    s.upper = reputation_beta_quantile(1.0 - tail, s.alpha, s.beta);
    s.established = (s.positive + s.negative) * 1000.0 >= (double)cfg->established_evidence_milli;
    memcpy(s.counts, rec->counts, sizeof s.counts);
    *score_out = s;
    return LODE_OK;
}

int64_t reputation_juror_factor_bps(const struct reputation_config *cfg,
                                    const struct reputation_score *score, int64_t juror_stake)
{
    int64_t f;

    if (!score->established && juror_stake < cfg->established_stake)
        return cfg->factor_min_bps;
    f = cfg->factor_min_bps + (int64_t)floor((double)REPUTATION_BPS * score->lower);
    return f > cfg->factor_max_bps ? cfg->factor_max_bps : f;
}

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_fraction(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0), h;

    if (fabs(d) < tiny)
        d = tiny;
    d = 1.0 / d;
    h = d;
    for (int m = 1; m <= 500; m++) {
        double m2 = 2.0 * m, aa, del;
        aa = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps)
            break;
    }
    return h;
}

double reputation_beta_cdf(double x, double a, double b)
{
    double front;

    if (!(x > 0.0))
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * beta_fraction(a, b, x) / a;
    return 1.0 - front * beta_fraction(b, a, 1.0 - x) / b;
}

double reputation_beta_quantile(double p, double a, double b)
{
    double lo = 0.0, hi = 1.0;

    if (!(p > 0.0))
        return 0.0;
    if (p >= 1.0)
        return 1.0;
    for (int i = 0; i < 64; i++) {
        double mid = (lo + hi) / 2.0;
        if (reputation_beta_cdf(mid, a, b) < p)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2.0;
}
