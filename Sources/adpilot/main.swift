// Entry point of the adpilot command-line tool: dispatches to a command and maps failures to
// exit codes (1 for a failed job, 2 for a usage error). Commands print results on stdout and
// log progress on stderr.

import Foundation

// The arguments after the program name, as the bytes the shell passed.
var rawArguments: [[UInt8]] = []
for index in stride(from: 1, to: Int(CommandLine.argc), by: 1) {
  guard let argument = CommandLine.unsafeArgv[index] else { continue }
  rawArguments.append(Array(UnsafeRawBufferPointer(start: argument, count: strlen(argument))))
}
do {
  exit(Tool.main(try decodeArguments(rawArguments)))
} catch {
  FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
  exit(2)
}
