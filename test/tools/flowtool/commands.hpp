// One function per subcommand; each gets the words after its name and returns the exit status.
#pragma once

namespace pepsal::flowtool {

int cmd_serve(int argc, char** argv);
int cmd_upload(int argc, char** argv);
int cmd_halfclose(int argc, char** argv);  // the same flow as upload, see cmd_transfer.cpp
int cmd_download(int argc, char** argv);
int cmd_both(int argc, char** argv);
int cmd_echo(int argc, char** argv);
int cmd_rr(int argc, char** argv);
int cmd_connect_rr(int argc, char** argv);
int cmd_parallel(int argc, char** argv);
int cmd_expect_reset(int argc, char** argv);
int cmd_expect_eof(int argc, char** argv);
int cmd_hold(int argc, char** argv);
int cmd_reset_server_check(int argc, char** argv);
int cmd_fin_server_check(int argc, char** argv);

}  // namespace pepsal::flowtool
