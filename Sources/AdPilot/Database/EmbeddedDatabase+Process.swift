// Program lookup and execution for the embedded database (through runuser as root), and the
// check that separates a live postmaster from a stale postmaster.pid. It never signals a server.

import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension EmbeddedDatabase {
  /// The exit status and output of a finished command.
  struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs a PostgreSQL program from the server's bin folder, as `postgres` when this process is
  /// root, and returns its exit status and output.
  func runServerCommand(_ program: String, _ arguments: [String]) throws -> CommandResult {
    let executable = try EmbeddedDatabase.binDirectory().appendingPathComponent(program).path
    var environment = ProcessInfo.processInfo.environment
    environment["PGDATA"] = nil
    environment["LC_ALL"] = "C"
    if runsAsServerAccount {
      let runuser = try EmbeddedDatabase.runuserExecutable().path
      return try EmbeddedDatabase.runCommand(
        runuser, ["-u", EmbeddedDatabase.serverAccount, "--", executable] + arguments,
        directory: baseDirectory.path, environment: environment)
    }
    return try EmbeddedDatabase.runCommand(
      executable, arguments, directory: baseDirectory.path, environment: environment)
  }

  /// Runs a program in `directory` with posix_spawn and waits for it with waitpid. Output goes to
  /// temporary files that are unlinked before the program starts, so that none is left behind
  /// when this process is killed while it waits.
  ///
  /// NOTE: Foundation's Process is not used because on Linux (swift-corelibs-foundation with
  /// Swift 6.3) it learns of a child's exit from a socket that the child inherits. `pg_ctl start`
  /// leaves the postmaster running with that socket open, so `waitUntilExit()` never returned.
  static func runCommand(
    _ executable: String, _ arguments: [String], directory: String,
    environment: [String: String]
  ) throws -> CommandResult {
    let scratch = FileManager.default.temporaryDirectory.path
    let stdoutFile = try unlinkedScratchFile(in: scratch)
    defer { close(stdoutFile) }
    let stderrFile = try unlinkedScratchFile(in: scratch)
    defer { close(stderrFile) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, stdoutFile, 1)
    posix_spawn_file_actions_adddup2(&actions, stderrFile, 2)

    // A shell changes directory first because Glibc's module does not export
    // posix_spawn_file_actions_addchdir_np.
    let command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory, executable] + arguments
    let argv = command.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }
    var pid = pid_t()
    let spawnError = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, envp)
    guard spawnError == 0 else {
      throw DatabaseSetupError(
        "could not run \(executable)", detail: String(cString: strerror(spawnError)),
        fix: "install PostgreSQL server binaries (apt-get install postgresql)")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
      guard errno == EINTR else {
        throw DatabaseSetupError(
          "waitpid failed for \(executable)", detail: String(cString: strerror(errno)))
      }
    }
    // The wait status layout of <sys/wait.h>: the low 7 bits are the terminating signal (0 for
    // a normal exit) and the next 8 bits are the exit code. A signal is reported as 128 + n.
    let signal = status & 0x7f
    let exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
    return CommandResult(
      status: exitStatus, stdout: readAll(stdoutFile), stderr: readAll(stderrFile))
  }

  /// Creates an empty file in `directory` for a child's output, unlinks it at once and returns
  /// its descriptor (close-on-exec, so only a `dup2` hands it to the child).
  private static func unlinkedScratchFile(in directory: String) throws -> Int32 {
    let path = "\(directory)/adpilot-\(UUID().uuidString).out"
    let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
      throw DatabaseSetupError(
        "could not create \(path)", detail: String(cString: strerror(errno)),
        fix: "set TMPDIR to a writable directory")
    }
    unlink(path)
    return descriptor
  }

  /// Returns the text written to `descriptor`, read from its start.
  private static func readAll(_ descriptor: Int32) -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
      let count = buffer.withUnsafeMutableBytes {
        pread(descriptor, $0.baseAddress, $0.count, off_t(bytes.count))
      }
      guard count > 0 else { break }
      bytes.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Returns the folder with initdb and pg_ctl: `ADPILOT_PG_BIN`, else `pg_config --bindir`,
  /// else the newest `/usr/lib/postgresql/<version>/bin`, else a folder on PATH.
  static func binDirectory() throws -> URL {
    let manager = FileManager.default
    let environment = ProcessInfo.processInfo.environment
    var candidates: [String] = []
    if let configured = environment["ADPILOT_PG_BIN"], !configured.isEmpty {
      candidates.append(configured)
    }
    if let fromPgConfig = pgConfigBinDirectory() { candidates.append(fromPgConfig) }
    let debianRoot = "/usr/lib/postgresql"
    let versions = (try? manager.contentsOfDirectory(atPath: debianRoot)) ?? []
    for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
      candidates.append("\(debianRoot)/\(version)/bin")
    }
    candidates += (environment["PATH"] ?? "").split(separator: ":").map(String.init)
    for candidate in candidates
    where manager.isExecutableFile(atPath: candidate + "/initdb")
      && manager.isExecutableFile(atPath: candidate + "/pg_ctl")
    {
      return URL(fileURLWithPath: candidate, isDirectory: true)
    }
    throw DatabaseSetupError(
      "PostgreSQL server programs (initdb, pg_ctl) not found",
      detail: "looked in: " + candidates.joined(separator: ", "),
      fix: "install them (apt-get install postgresql) or set ADPILOT_PG_BIN to their folder")
  }

  private static func pgConfigBinDirectory() -> String? {
    guard
      let result = try? runCommand(
        "/usr/bin/env", ["pg_config", "--bindir"], directory: "/",
        environment: ProcessInfo.processInfo.environment),
      result.status == 0
    else { return nil }
    let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    return path.isEmpty ? nil : path
  }

  static func runuserExecutable() throws -> URL {
    for path in ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
    where FileManager.default.isExecutableFile(atPath: path) {
      return URL(fileURLWithPath: path)
    }
    throw DatabaseSetupError(
      "runuser not found: as root the server must run as user postgres",
      fix: "install util-linux, or run AdPilot as a normal user")
  }

  /// Returns the pid in postmaster.pid if that process is alive and is a postgres server.
  func runningServerPID() -> Int32? {
    EmbeddedDatabase.livePostgresPID(
      lockFile: dataDirectory.appendingPathComponent("postmaster.pid"),
      dataDirectory: dataDirectory)
  }

  /// Removes postmaster.pid and the socket lock file when no live postgres owns them, as after a
  /// crash or a reboot where the old pid now belongs to another program.
  func removeStaleLockFiles() {
    let lockFiles = [
      dataDirectory.appendingPathComponent("postmaster.pid"),
      socketDirectory.appendingPathComponent(".s.PGSQL.\(port).lock"),
    ]
    for lockFile in lockFiles
    where FileManager.default.fileExists(atPath: lockFile.path)
      && EmbeddedDatabase.livePostgresPID(lockFile: lockFile, dataDirectory: dataDirectory) == nil
    {
      try? FileManager.default.removeItem(at: lockFile)
    }
  }

  /// Reads the pid on the first line of a PostgreSQL lock file and checks that it is alive and,
  /// where /proc exists, that it is the postmaster of `dataDirectory`.
  ///
  /// A postmaster keeps the command line it was started with, `postgres -D DIR ...`, and
  /// /proc/PID/cmdline is readable without the ptrace rights that another user's
  /// /proc/PID/cwd needs (root lacks them in a container that drops CAP_SYS_PTRACE). A backend
  /// rewrites its command line to its status, so the pid of a backend, or of another
  /// cluster's postmaster, which a stale lock file may name after a reboot, does not count.
  static func livePostgresPID(lockFile: URL, dataDirectory: URL) -> Int32? {
    guard let data = FileManager.default.contents(atPath: lockFile.path),
      let firstLine = String(decoding: data, as: UTF8.self).split(separator: "\n").first,
      let pid = Int32(firstLine.trimmingCharacters(in: .whitespaces)), pid > 0
    else { return nil }
    guard kill(pid, 0) == 0 || errno == EPERM else { return nil }
    guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
      return FileManager.default.fileExists(atPath: "/proc/self") ? nil : pid
    }
    let arguments = command.split(separator: 0, omittingEmptySubsequences: false).map {
      String(decoding: $0, as: UTF8.self)
    }
    guard let program = arguments.first,
      ["postgres", "postmaster"].contains(URL(fileURLWithPath: program).lastPathComponent)
    else { return nil }
    var directories: [String] = []
    for (index, argument) in arguments.enumerated() {
      if argument == "-D", index + 1 < arguments.count {
        directories.append(arguments[index + 1])
      } else if argument.hasPrefix("-D"), argument.count > 2 {
        directories.append(String(argument.dropFirst(2)))
      }
    }
    let expected = dataDirectory.resolvingSymlinksInPath().path
    let matches = directories.contains {
      URL(fileURLWithPath: $0).resolvingSymlinksInPath().path == expected
    }
    return matches ? pid : nil
  }
}
