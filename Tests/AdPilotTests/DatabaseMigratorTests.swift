// Migrations: applied once, recorded, skipped on the next run and atomic per file. A migration
// partly applied by hand gets its own fix. The schema's day-partition function creates days.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

/// The checkout containing this file, which is two levels down at Tests/AdPilotTests/<file>.
let checkoutRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent()

@Suite struct DatabaseMigratorTests {
  @Test func migrationsApplyOnceAndAreRecorded() throws {
    let connection = try TestDatabase.connect(suite: "DatabaseMigrator.applyOnce", migrated: false)
    let sql = checkoutRoot.appendingPathComponent("sql")
    let first = try Migrator(connection).migrate(directory: sql)
    #expect(first.first == "0001_schema.sql")
    let recorded = try connection.query(
      "SELECT version, applied_at <= now() FROM adpilot.schema_migrations ORDER BY version")
    #expect(try recorded.map { try $0.string(0) }.first == "0001")
    #expect(recorded.count == first.count)
    #expect(try recorded[0].bool(1))
    #expect(try Migrator(connection).migrate(directory: sql) == [])
    let count = try connection.query("SELECT count(*) FROM adpilot.schema_migrations")
    #expect(try count[0].int64(0) == Int64(first.count))
  }

  @Test func failedMigrationAppliesNothing() throws {
    let connection = try TestDatabase.connect(suite: "DatabaseMigrator.failure", migrated: false)
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    try "CREATE TABLE adpilot.first_table (n int);".write(
      to: folder.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
    try "CREATE TABLE adpilot.second_table (n int);\nSELEC broken;".write(
      to: folder.appendingPathComponent("0002_second.sql"), atomically: true, encoding: .utf8)
    try "not a migration".write(
      to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)

    let error = try #require(throws: DatabaseSetupError.self) {
      try Migrator(connection).migrate(directory: folder)
    }
    #expect(error.message.contains("0002_second.sql"))
    let versions = try connection.query("SELECT version FROM adpilot.schema_migrations")
    #expect(try versions.map { try $0.string(0) } == ["0001"])
    let tables = try connection.query(
      "SELECT to_regclass('adpilot.first_table') IS NOT NULL, "
        + "to_regclass('adpilot.second_table') IS NULL")
    #expect(try tables[0].bool(0))
    #expect(try tables[0].bool(1))
  }

  @Test func migrationAppliedByHandNamesFix() throws {
    let connection = try TestDatabase.connect(suite: "DatabaseMigrator.byHand", migrated: false)
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    try "CREATE TABLE adpilot.first_table (n int);\nCREATE INDEX ON adpilot.first_table (n);"
      .write(to: folder.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
    // The first statement of the migration, run by hand, leaves no row in schema_migrations.
    try connection.execute("CREATE SCHEMA adpilot; CREATE TABLE adpilot.first_table (n int);")

    let error = try #require(throws: DatabaseSetupError.self) {
      try Migrator(connection).migrate(directory: folder)
    }
    let fix = try #require(error.fix)
    #expect(error.message.contains("0001_first.sql"))
    #expect(error.detail?.contains("42P07") == true)
    #expect(fix.contains("already has objects"))
    #expect(fix.contains("INSERT INTO adpilot.schema_migrations (version) VALUES ('0001')"))
    #expect(!fix.contains("fix the SQL"))
  }

  @Test func duplicateVersionsAreRejected() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    for name in ["0001_a.sql", "0001_b.sql"] {
      try "SELECT 1;".write(
        to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    #expect(throws: DatabaseSetupError.self) { try Migrator.migrationFiles(in: folder) }
  }

  @Test func migrationFilesSortByNumber() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    for name in ["0010_c.sql", "0002_b.sql", "0001_a.sql", "notes.sql", "0003_x.txt"] {
      try "".write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    let files = try Migrator.migrationFiles(in: folder).map(\.file.lastPathComponent)
    #expect(files == ["0001_a.sql", "0002_b.sql", "0010_c.sql"])
  }

  @Test func ensureImpressionPartitionsCreatesDays() throws {
    let connection = try TestDatabase.connect(suite: "DatabaseMigrator.partitions")
    let create = "SELECT adpilot.ensure_impression_partitions($1::date, $2::date)"
    let created = try connection.query(create, [.date("2024-02-28"), .date("2024-03-01")])
    #expect(try created[0].int64(0) == 3)
    let again = try connection.query(create, [.date("2024-02-28"), .date("2024-03-01")])
    #expect(try again[0].int64(0) == 0)

    let partitions = try connection.query(
      """
      SELECT child.relname
      FROM pg_inherits
      JOIN pg_class child ON child.oid = pg_inherits.inhrelid
      WHERE pg_inherits.inhparent = 'adpilot.impressions'::regclass
      ORDER BY child.relname
      """)
    #expect(
      try partitions.map { try $0.string(0) } == [
        "impressions_20240228", "impressions_20240229", "impressions_20240301",
      ])

    // The last microsecond of a UTC day belongs to that day's partition, in any session time zone.
    try connection.execute("SET TimeZone = 'Asia/Shanghai'")
    try connection.execute(
      """
      INSERT INTO adpilot.impressions (dataset, time, request_id, click)
      VALUES ('t', '2024-02-29 23:59:59.999999+00', 'r1', 0),
             ('t', '2024-03-01 00:00:00+00', 'r2', 1)
      """)
    let placed = try connection.query(
      "SELECT tableoid::regclass::text FROM adpilot.impressions ORDER BY request_id")
    #expect(
      try placed.map { try $0.string(0) } == [
        "adpilot.impressions_20240229", "adpilot.impressions_20240301",
      ])
  }

  @Test func locatorUsesDatabaseURLAndMigrates() throws {
    let config = try TestDatabase.config(suite: "DatabaseMigrator.locator", migrated: false)
    let connection = try DatabaseLocator.connect(environment: [
      "DATABASE_URL": config.url, "ADPILOT_HOME": checkoutRoot.path,
    ])
    let versions = try connection.query("SELECT version FROM adpilot.schema_migrations")
    #expect(try versions.map { try $0.string(0) }.contains("0001"))
  }

  @Test func locatorLeavesMigratingToTheMigrateCommand() throws {
    let config = try TestDatabase.config(suite: "DatabaseMigrator.unmigrated", migrated: false)
    let connection = try DatabaseLocator.connect(
      environment: ["DATABASE_URL": config.url, "ADPILOT_HOME": checkoutRoot.path],
      migrating: false)
    defer { connection.close() }
    let schema = try connection.query("SELECT to_regclass('adpilot.schema_migrations') IS NULL")
    #expect(try schema[0].bool(0))
  }
}

func temporaryFolder() throws -> URL {
  let folder = FileManager.default.temporaryDirectory
    .appendingPathComponent("adpilot-test-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  return folder
}
