// Applies the numbered SQL migrations (sql/NNNN_name.sql) in order, each in its own transaction,
// and records them in adpilot.schema_migrations. A migration that was applied is never rerun,
// and a file is never edited in place by this code.

import Foundation
import Postgres

/// The schema migrator of one database connection.
public struct Migrator {
  /// The advisory lock that serializes migrators of the same database.
  public static let lockKey = Connection.advisoryKey("adpilot.schema_migrations")

  let connection: Connection

  /// Creates a migrator that works through `connection`.
  public init(_ connection: Connection) {
    self.connection = connection
  }

  /// Applies the migrations of `directory` that the database has not recorded yet and returns
  /// their file names in the order applied (empty when the schema is current). Concurrent
  /// migrators wait for each other on an advisory lock.
  @discardableResult
  public func migrate(directory: URL) throws -> [String] {
    let migrations = try Migrator.migrationFiles(in: directory)
    return try connection.withAdvisoryLock(Migrator.lockKey) {
      try connection.execute(
        """
        CREATE SCHEMA IF NOT EXISTS adpilot;
        CREATE TABLE IF NOT EXISTS adpilot.schema_migrations (
            version     text PRIMARY KEY,
            applied_at  timestamptz NOT NULL DEFAULT now()
        );
        """)
      let applied = Set(
        try connection.query("SELECT version FROM adpilot.schema_migrations").map {
          try $0.string(0)
        })
      var newlyApplied: [String] = []
      for migration in migrations where !applied.contains(migration.version) {
        try apply(migration)
        newlyApplied.append(migration.file.lastPathComponent)
      }
      return newlyApplied
    }
  }

  /// A migration file and its version, the digits before the first underscore.
  struct Migration {
    var version: String
    var file: URL
  }

  private func apply(_ migration: Migration) throws {
    let sql: String
    do {
      sql = try String(contentsOf: migration.file, encoding: .utf8)
    } catch {
      throw DatabaseSetupError(
        "could not read migration \(migration.file.path)", detail: "\(error)")
    }
    do {
      try connection.transaction {
        try connection.execute(sql)
        try connection.execute(
          "INSERT INTO adpilot.schema_migrations (version) VALUES ($1)", [.text(migration.version)])
      }
    } catch let error as PostgresError {
      throw DatabaseSetupError(
        "migration \(migration.file.lastPathComponent) failed: \(error.message)",
        detail: error.description, fix: Migrator.fix(for: error, migration: migration))
    }
  }

  /// SQLSTATEs of creating a column, object, function, schema or table that exists already.
  static let duplicateObjectStates: Set<String> = ["42701", "42710", "42723", "42P06", "42P07"]

  /// Returns the fix for a failed migration. An object that exists already means that some of
  /// the migration was applied without a row in adpilot.schema_migrations, as by hand.
  static func fix(for error: PostgresError, migration: Migration) -> String {
    guard let state = error.sqlState, duplicateObjectStates.contains(state) else {
      return "fix the SQL in \(migration.file.path); nothing of it was applied"
    }
    return "the database already has objects that \(migration.file.lastPathComponent) creates, "
      + "but adpilot.schema_migrations has no row for version \(migration.version), as when "
      + "part of it was applied by hand. Nothing of it was applied now. Undo the changes made "
      + "by hand and run `adpilot migrate` again, or, if all of the migration is in place, "
      + "record it with INSERT INTO adpilot.schema_migrations (version) VALUES "
      + "('\(migration.version)')"
  }

  /// Lists `NNNN_*.sql` files sorted by version, rejecting two files with the same version.
  static func migrationFiles(in directory: URL) throws -> [Migration] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    } catch {
      throw DatabaseSetupError(
        "migration folder not found: \(directory.path)", detail: "\(error)",
        fix: "run from the AdPilot checkout or set ADPILOT_HOME")
    }
    var migrations: [Migration] = []
    for name in names where name.hasSuffix(".sql") {
      guard let underscore = name.firstIndex(of: "_") else { continue }
      let version = String(name[..<underscore])
      guard !version.isEmpty, version.allSatisfy(\.isASCII), version.allSatisfy(\.isNumber) else {
        continue
      }
      migrations.append(Migration(version: version, file: directory.appendingPathComponent(name)))
    }
    migrations.sort { ($0.version.count, $0.version) < ($1.version.count, $1.version) }
    for (previous, next) in zip(migrations, migrations.dropFirst())
    where previous.version == next.version {
      throw DatabaseSetupError(
        "two migrations have version \(next.version): \(previous.file.lastPathComponent) and "
          + next.file.lastPathComponent,
        fix: "renumber one of them")
    }
    return migrations
  }
}
