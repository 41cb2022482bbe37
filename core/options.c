/*
 * core/options.c — option tables: defaults, then LODE_* environment, then argv.
 */
#include "core/options.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void env_name(const char *name, char *out, size_t cap)
{
    size_t i = 0;
    int n = snprintf(out, cap, "LODE_");
    for (i = (size_t)n; *name != '\0' && i + 1 < cap; name++, i++)
        out[i] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    out[i] = '\0';
}

static bool set_value(const struct option_spec *o, const char *value, const char *origin, FILE *err)
{
    switch (o->type) {
    case OPTION_STRING:
        *(const char **)o->target = value;
        return true;
    case OPTION_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
            fprintf(err, "lode: %s for --%s must be an integer from %lld to %lld, not \"%s\"\n",
                    origin, o->name, (long long)o->min, (long long)o->max, value);
            return false;
        }
        *(int64_t *)o->target = v;
        return true;
    }
    case OPTION_FLAG:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0) {
            *(bool *)o->target = true;
        } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
                   strcmp(value, "no") == 0 || value[0] == '\0') {
            *(bool *)o->target = false;
        } else {
            fprintf(err, "lode: %s for --%s must be true or false, not \"%s\"\n", origin, o->name,
                    value);
            return false;
        }
        return true;
    }
    return false;
}

void options_usage(const struct command_spec *cmd, FILE *out)
{
    char env[96];

    fprintf(out, "usage: lode %s [options]%s%s\n\n%s\n", cmd->name, cmd->positional ? " " : "",
            cmd->positional ? cmd->positional : "", cmd->synopsis);
    if (cmd->description != NULL)
        fprintf(out, "\n%s\n", cmd->description);
    fprintf(out, "\noptions (each also read from the environment variable shown):\n");
    for (const struct option_spec *o = cmd->options; o != NULL && o->name != NULL; o++) {
        env_name(o->name, env, sizeof env);
        fprintf(out, "  --%s%s\n      %s\n      [%s", o->name,
                o->type == OPTION_FLAG ? "" : (o->type == OPTION_INT ? " N" : " VALUE"), o->help,
                env);
        if (o->default_value != NULL && o->default_value[0] != '\0')
            fprintf(out, "; default %s", o->default_value);
        fprintf(out, "]\n");
    }
    fprintf(out, "  --help\n      print this help and exit\n");
}

enum options_result options_parse(const struct command_spec *cmd, int argc, char **argv,
                                  int *first_positional, FILE *out, FILE *err)
{
    char env[96];
    int i;

    for (const struct option_spec *o = cmd->options; o != NULL && o->name != NULL; o++) {
        if (o->default_value != NULL && !set_value(o, o->default_value, "default", err))
            return OPTIONS_ERROR;
        env_name(o->name, env, sizeof env);
        const char *v = getenv(env);
        if (v != NULL && !set_value(o, v, env, err))
            return OPTIONS_ERROR;
    }
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct option_spec *found = NULL;
        const char *value = NULL;
        size_t name_len;

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(arg, "--", 2) != 0)
            break;
        if (strcmp(arg, "--help") == 0) {
            options_usage(cmd, out);
            return OPTIONS_HELP;
        }
        arg += 2;
        const char *eq = strchr(arg, '=');
        name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        for (const struct option_spec *o = cmd->options; o != NULL && o->name != NULL; o++)
            if (strlen(o->name) == name_len && strncmp(o->name, arg, name_len) == 0)
                found = o;
        if (found == NULL) {
            fprintf(err, "lode %s: unknown option --%.*s (see lode %s --help)\n", cmd->name,
                    (int)name_len, arg, cmd->name);
            return OPTIONS_ERROR;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (found->type == OPTION_FLAG) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(err, "lode %s: option --%s needs a value\n", cmd->name, found->name);
            return OPTIONS_ERROR;
        }
        if (!set_value(found, value, "the value", err))
            return OPTIONS_ERROR;
    }
    if (cmd->positional == NULL && i < argc) {
        fprintf(err, "lode %s: unexpected argument \"%s\" (see lode %s --help)\n", cmd->name,
                argv[i], cmd->name);
        return OPTIONS_ERROR;
    }
    *first_positional = i;
    return OPTIONS_OK;
}
