// Chooses the database AdPilot uses: the one named by DATABASE_URL or libpq's PG* variables, else
// the checkout's embedded cluster (started if needed). It migrates the schema before returning.

import Foundation
import Postgres

/// The lookup of the database that commands connect to.
public enum DatabaseLocator {
  /// Connects to the configured database, or starts and connects to the embedded one, and
  /// applies pending migrations from the checkout's `sql` folder unless `migrating` is false.
  public static func connect(
    environment: [String: String] = ProcessInfo.processInfo.environment, migrating: Bool = true
  ) throws -> Connection {
    let root = try ProjectPaths.root(environment: environment)
    let config: ConnectionConfig
    if let configured = ConnectionConfig.fromEnvironment(environment) {
      config = configured
    } else {
      let embedded = EmbeddedDatabase(root: root)
      try embedded.start()
      config = embedded.config
    }
    let connection = try Connection(config)
    if migrating {
      try Migrator(connection).migrate(directory: root.appendingPathComponent("sql"))
    }
    return connection
  }
}
