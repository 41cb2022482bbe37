/*
 * tests/unit/labeling/test_aggregate_cli.c — `lode aggregate` end to end: files in, CSV out,
 * exit codes and messages. Each call runs cmd_aggregate in a child with stdout and stderr
 * sent to files, as the lode binary would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "test_main.h"

static char dir[] = "/tmp/lode-aggregate-XXXXXX";
static char out_text[1 << 16], err_text[1 << 16];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    buf[0] = '\0';
    if (f == NULL)
        return;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `lode aggregate ARGS...` (input names are relative to the temporary folder). */
static int run(int argc, char **argv)
{
    char out_path[256], err_path[256];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0 || freopen(out_path, "w", stdout) == NULL ||
            freopen(err_path, "w", stderr) == NULL)
            _exit(99);
        int rc = cmd_aggregate(argc, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    read_file(out_path, out_text, sizeof out_text);
    read_file(err_path, err_text, sizeof err_text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_output_order_quoting_and_duplicates(void)
{
    /* t2 first; the first (t1, w1) answer "a" is replaced by its later "b" */
    write_file("a.csv", "note,label,task,worker\n"
                        "x,yes,t2,w1\n"
                        "x,a,t1,w1\n"
                        "x,\"no, really\",t2,w2\n"
                        "x,yes,t2,w3\n"
                        "x,b,t1,w2\n"
                        "x,b,t1,w1\n"
                        "x,yes,\"t,3\",w1\n");
    char *argv[] = {"aggregate", "--input", "a.csv", "--method", "mv", NULL};
    CU_ASSERT_EQUAL(run(5, argv), EXIT_OK);
    /* K = 4 labels: t2 (2 of 3 yes) (2+1)/(3+4); t1 (2 of 2 b) 3/6; t,3 (1 of 1) 2/5 */
    CU_ASSERT_STRING_EQUAL(out_text, "task,label,confidence\n"
                                     "t2,yes,0.428571\n"
                                     "t1,b,0.500000\n"
                                     "\"t,3\",yes,0.400000\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "7 rows, 1 repeated (task, worker) rows replaced"));
}

static void test_methods_and_workers_file(void)
{
    /* 20 tasks, three reliable workers and one who always answers "n" */
    char text[4096];
    size_t n = (size_t)sprintf(text, "task,worker,label\n");
    for (int t = 0; t < 20; t++) {
        const char *l = t % 2 ? "y" : "n";
        for (int w = 0; w < 3; w++)
            n += (size_t)sprintf(text + n, "t%d,w%d,%s\n", t, w, (t + w) % 7 == 0 ? (t % 2 ? "n" : "y") : l);
        n += (size_t)sprintf(text + n, "t%d,lazy,n\n", t);
    }
    write_file("b.csv", text);
    static const char *const methods[] = {"mv", "onecoin", "hds", "ds", "auto"};
    for (int m = 0; m < 5; m++) {
        char *argv[] = {"aggregate", "--input", "b.csv", "--method", (char *)methods[m],
                        "--workers-out", "w.csv", NULL};
        CU_ASSERT_EQUAL(run(7, argv), EXIT_OK);
        /* header + 20 rows, and the odd tasks (truth y) come out y */
        int rows = 0, wrong = 0;
        for (char *line = strtok(out_text, "\n"); line; line = strtok(NULL, "\n"), rows++) {
            int t;
            char label[8];
            if (rows > 0 && sscanf(line, "t%d,%7[^,],", &t, label) == 2)
                wrong += strcmp(label, t % 2 ? "y" : "n") != 0;
        }
        CU_ASSERT_EQUAL(rows, 21);
        CU_ASSERT_EQUAL(wrong, 0);
        char path[256], wtext[4096];
        snprintf(path, sizeof path, "%s/w.csv", dir);
        read_file(path, wtext, sizeof wtext);
        const char *want = "worker,answers,agreement,accuracy,accuracy_low90,"
                           "accuracy_high90\nw0,20,";
        CU_ASSERT_PTR_EQUAL(strstr(wtext, want), wtext);
    }
}

static void test_errors_exit_2_with_line(void)
{
    write_file("ragged.csv", "task,worker,label\nt,w,l\nt,w\n");
    write_file("nolabel.csv", "task,worker,answer\nt,w,l\n");
    write_file("empty.csv", "");
    char *a1[] = {"aggregate", "--input", "ragged.csv", NULL};
    CU_ASSERT_EQUAL(run(3, a1), EXIT_USAGE);
    CU_ASSERT_STRING_EQUAL(err_text,
                           "lode aggregate: ragged.csv: line 3: 2 fields, the header has 3\n");
    CU_ASSERT_STRING_EQUAL(out_text, "");
    char *a2[] = {"aggregate", "--input", "nolabel.csv", NULL};
    CU_ASSERT_EQUAL(run(3, a2), EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "header has no column \"label\""));
    char *a3[] = {"aggregate", "--input", "empty.csv", NULL};
    CU_ASSERT_EQUAL(run(3, a3), EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "empty file"));
    char *a4[] = {"aggregate", "--input", "missing.csv", NULL};
    CU_ASSERT_EQUAL(run(3, a4), EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "could not open \"missing.csv\""));
    char *a5[] = {"aggregate", "--input", "ragged.csv", "--method", "vote", NULL};
    CU_ASSERT_EQUAL(run(5, a5), EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "unknown method \"vote\""));
    write_file("schema.csv", "task,worker,label\nt1,w1,yes\nt1,w2,no\nt2,w1,perhaps\n");
    char *a7[] = {"aggregate", "--input", "schema.csv", "--labels", "yes,no", NULL};
    CU_ASSERT_EQUAL(run(5, a7), EXIT_USAGE);
    CU_ASSERT_STRING_EQUAL(err_text, "lode aggregate: schema.csv: line 4: label \"perhaps\" is "
                                     "not in the schema\n");
    char *a8[] = {"aggregate", "--input", "schema.csv", "--labels", "yes,no,perhaps,never",
                  "--method", "mv", NULL};
    CU_ASSERT_EQUAL(run(7, a8), EXIT_OK);
    /* four schema labels: t2 has 1 of 1 "perhaps" -> (1 + 1) / (1 + 4) */
    CU_ASSERT_PTR_NOT_NULL(strstr(out_text, "t2,perhaps,0.400000\n"));
    char *a6[] = {"aggregate", NULL};
    CU_ASSERT_EQUAL(run(1, a6), EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "--input is required"));
}

int main(void)
{
    static const struct test_case cases[] = {
        {"output order, quoting, duplicates", test_output_order_quoting_and_duplicates},
        {"every method and the workers file", test_methods_and_workers_file},
        {"input errors exit 2 with the line", test_errors_exit_2_with_line},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {{"aggregate_cli", cases}, {NULL, NULL}};
    if (mkdtemp(dir) == NULL)
        return 2;
    int rc = test_main(suites);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
