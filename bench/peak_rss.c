/* peak_rss OUT_FILE COMMAND [ARG...]: runs COMMAND and writes its peak resident set size (kB) to
 * OUT_FILE; exits with COMMAND's exit code (128 + signal number if a signal ended it).
 *
 * Why not wait4 straight from the Python driver: Linux keeps the highest RSS a process ever had
 * across exec, and a child forked from the driver starts with the driver's whole RSS (pyarrow and
 * pandas loaded: over 100 MB). Forked from this small program instead, COMMAND's figure is its own.
 * SIGINT and SIGTERM are passed on to COMMAND. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid = 0;

static void ForwardSignal(int signum) {
  if (child_pid > 0) kill(child_pid, signum);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: peak_rss OUT_FILE COMMAND [ARG...]\n");
    return 2;
  }
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = ForwardSignal;
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGTERM, &action, NULL);

  pid_t pid = fork();
  if (pid < 0) {
    perror("peak_rss: fork");
    return 2;
  }
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(argv[2], argv + 2);
    fprintf(stderr, "peak_rss: cannot run %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  child_pid = pid;

  int status = 0;
  struct rusage usage;
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      perror("peak_rss: wait4");
      return 2;
    }
  }
  FILE* out = fopen(argv[1], "w");
  if (out == NULL) {
    perror("peak_rss: output file");
    return 2;
  }
  fprintf(out, "%ld\n", usage.ru_maxrss);
  fclose(out);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 2;
}
