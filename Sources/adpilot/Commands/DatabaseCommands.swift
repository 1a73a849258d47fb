// `adpilot db` manages the embedded PostgreSQL cluster; `adpilot migrate` applies sql/ to the
// configured database. Neither prints a password.

import AdPilot
import Foundation
import Postgres

let databaseCommands: [Command] = [
  Command(
    name: "db",
    summary: "start, stop or inspect the embedded PostgreSQL; print its connection URL",
    usage: "db start|stop|status|url",
    options: [], maxPositionals: 1,
    run: { parsed, context in
      guard let action = parsed.positionals.first else {
        throw UsageError(message: "missing action: expected start, stop, status or url")
      }
      if ConnectionConfig.fromEnvironment(context.environment) != nil {
        context.logger.warning(
          "DATABASE_URL or PG* variables are set; other commands use that server, not the embedded one"
        )
      }
      let database = EmbeddedDatabase(root: try ProjectPaths.root())
      switch action {
      case "start":
        try database.start()
        let connection = try Connection(database.config)
        defer { connection.close() }
        if let warning = database.replacedServerWarning(connection) {
          context.logger.warning(warning)
        }
        let applied = try Migrator(connection).migrate(directory: try ProjectPaths.sqlDirectory)
        context.print("embedded database running: \(database.config.displayTarget)")
        if !applied.isEmpty {
          context.print("migrations applied: \(applied.joined(separator: ", "))")
        }
      case "stop":
        // Two concurrent stops must not both report the stop, so the result comes from stop().
        let stopped = try database.stop()
        context.print(stopped ? "embedded database stopped" : "embedded database was not running")
      case "status":
        let status = database.status()
        context.print("\(status)")
        if let pid = status.pid, let error = database.missingSocketError(pid: pid) {
          context.logger.warning("\(error.message): \(error.fix ?? "")")
        }
        if status.state == .running, let connection = try? Connection(database.config) {
          defer { connection.close() }
          if let warning = database.replacedServerWarning(connection) {
            context.logger.warning(warning)
          }
        }
        // Like pg_ctl status: exit code 3 when the server is not running.
        if status.state != .running { throw ExitStatus(code: 3) }
      case "url":
        context.print(database.config.url)
      default:
        throw UsageError(message: "unknown action '\(action)': expected start, stop, status or url")
      }
    }),
  Command(
    name: "migrate",
    summary: "apply the SQL migrations in sql/ to the configured database",
    usage: "migrate",
    options: [],
    run: { _, context in
      // Every other command migrates on connecting, which would leave this one nothing to list.
      let connection = try context.connect(migrating: false)
      defer { connection.close() }
      let applied = try Migrator(connection).migrate(directory: try ProjectPaths.sqlDirectory)
      context.print(
        applied.isEmpty ? "schema up to date" : "applied: \(applied.joined(separator: ", "))")
    }),
]
