/* main.c -- patron's entry point: everything is a CLI command (cli/cli.h). */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
