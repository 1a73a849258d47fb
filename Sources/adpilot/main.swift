// Entry point of the adpilot command-line tool: dispatches to a command and maps failures to
// exit codes (1 for a failed job, 2 for a usage error). Commands print results on stdout and
// log progress on stderr.

import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
exit(Tool.main(arguments))
