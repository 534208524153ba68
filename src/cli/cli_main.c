/* SPDX-License-Identifier: Apache-2.0
 *
 * main() of `herald`, the command-line client: holds the command table, parses argv
 * (cli_options.c), answers --help, `help [COMMAND]` and --version itself, and otherwise
 * runs exactly one command through its descriptor. It opens nothing itself; it only
 * releases nats.c's global state after the command returned.
 *
 * Exit status: the command's HR_CLI_EXIT_* code (0 ok, 1 runtime failure, 2 usage).
 */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"

static const struct hr_cli_cmd *const commands[] = {
    &hr_cli_cmd_pub,
    &hr_cli_cmd_sub,
    &hr_cli_cmd_req,
    &hr_cli_cmd_reply,
    &hr_cli_cmd_log,
    &hr_cli_cmd_dlq,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* `herald help [COMMAND]`, the spelling some users try first. */
static int help_command_run(int argc, char **argv)
{
    if (argc == 2) {
        hr_cli_help_print(stdout, NULL, commands, N_COMMANDS);
        return HR_CLI_EXIT_OK;
    }
    if (argc == 3 && strcmp(argv[2], "log") == 0) {
        hr_cli_log_help(stdout);
        return HR_CLI_EXIT_OK;
    }
    if (argc == 3 && strcmp(argv[2], "dlq") == 0) {
        hr_cli_dlq_help(stdout);
        return HR_CLI_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (argc == 3 && strcmp(commands[i]->name, argv[2]) == 0) {
            hr_cli_help_print(stdout, commands[i], commands, N_COMMANDS);
            return HR_CLI_EXIT_OK;
        }
    }
    fprintf(stderr, "herald: unknown command '%s'\nTry 'herald --help'.\n", argv[2]);
    return HR_CLI_EXIT_USAGE;
}

/* True if the first word of argv that is not a global option (or the value of --server,
 * -s or --timeout given as a separate word) is `name`. */
static bool command_is(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0)
            return false;
        if (arg[0] != '-' || arg[1] == '\0')
            return strcmp(arg, name) == 0;
        if (strcmp(arg, "-s") == 0 || strcmp(arg, "--server") == 0 || strcmp(arg, "--timeout") == 0)
            i++;
    }
    return false;
}

int main(int argc, char **argv)
{
    struct hr_cli_opts opts;
    int rc;

    if (argc >= 2 && strcmp(argv[1], "help") == 0)
        return help_command_run(argc, argv);
    /* `log` has options of its own (cli_log.c); global options before it go the common way. */
    if (argc >= 2 && strcmp(argv[1], "log") == 0)
        return hr_cli_log_main(argc - 1, argv + 1);
    /* `dlq` parses all of argv itself (cli_dlq.c), so that its --keep and --limit may
     * follow global options given before it; it uses nats.c, released like the others. */
    if (command_is(argc, argv, "dlq")) {
        rc = hr_cli_dlq_main(argc, argv);
        nats_Close();
        return rc;
    }

    rc = hr_cli_opts_parse(&opts, argc, argv, commands, N_COMMANDS);
    if (rc != HR_CLI_EXIT_OK)
        return rc;
    if (opts.version) {
        printf("herald %s (nats.c %s)\n", HERALD_VERSION, nats_GetVersion());
        return HR_CLI_EXIT_OK;
    }
    if (opts.help) {
        hr_cli_help_print(stdout, opts.cmd, commands, N_COMMANDS);
        return HR_CLI_EXIT_OK;
    }

    rc = opts.cmd->run(&opts);
    nats_Close();
    errno = 0;
    if (fflush(stdout) != 0 && errno != EPIPE && rc == HR_CLI_EXIT_OK)
        rc = hr_cli_fail("cannot write to stdout: %s", strerror(errno != 0 ? errno : EIO));
    return rc;
}
