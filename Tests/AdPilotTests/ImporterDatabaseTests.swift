// Tests of the writers and importers against a real PostgreSQL: row counts and clicks of the real
// public logs (expected numbers computed independently with a Python script), reruns, rejected
// rows, unreadable files and rollback. Each test uses its own database.

import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite struct ImporterDatabaseTests {
  // MARK: - Writers

  @Test func writerRoundTripsRecords() throws {
    let connection = try TestDatabase.connect(suite: "ingest.writerRoundTrip")
    let early = Date(timeIntervalSince1970: 1_370_475_000.5)  // 2013-06-05T23:30:00.5Z
    let records = [
      ImpressionRecord(
        dataset: "d", time: early, requestId: "a", userId: "u1", adId: nil, campaignId: "c",
        split: "train", cat: ["x", nil], num: [1.5, nil], seq: ["s1", "s2"], click: 1,
        costMicros: 870, loggedPCTR: 0.25, truePCTR: nil),
      ImpressionRecord(
        dataset: "d", time: early.addingTimeInterval(3_600), requestId: "b", split: "test",
        click: 0),
      ImpressionRecord(
        dataset: "d", time: early.addingTimeInterval(2 * 86_400), requestId: "c", click: 0,
        truePCTR: 0.125),
    ]
    let writer = ImpressionWriter(connection: connection, dataset: "d", batchSize: 2)
    try connection.transaction {
      for record in records {
        try writer.append(record)
      }
      #expect(writer.written == 2)
      try writer.flush()
    }
    #expect(writer.written == 3)

    let rows = try connection.query(
      """
      SELECT request_id, user_id, ad_id, split, cat_values::text, num_values::text,
             seq_values::text, click, cost_micros, logged_pctr, true_pctr,
             extract(epoch FROM time)::float8
      FROM adpilot.impressions
      ORDER BY request_id
      """)
    #expect(rows.count == 3)
    let first = try #require(rows.first)
    #expect(try first.string(0) == "a")
    #expect(try first.optionalString(1) == "u1")
    #expect(try first.optionalString(2) == nil)
    #expect(try first.string(3) == "train")
    #expect(try first.string(4) == "{x,NULL}")
    #expect(try first.string(5) == "{1.5,NULL}")
    #expect(try first.string(6) == "{s1,s2}")
    #expect(try first.int64(7) == 1)
    #expect(try first.int64(8) == 870)
    #expect(try first.optionalDouble(9) == 0.25)
    #expect(try first.optionalDouble(10) == nil)
    #expect(try first.double(11) == 1_370_475_000.5)
    #expect(try rows[1].string(3) == "test")
    #expect(try rows[2].optionalDouble(10) == 0.125)

    // Days 2013-06-05, -06 and -07 (UTC) got partitions; the gap day was created too.
    let partitions = try connection.query(
      """
      SELECT count(*) FROM pg_inherits
      WHERE inhparent = 'adpilot.impressions'::regclass
      """)
    #expect(try partitions[0].int64(0) == 3)
  }

  @Test func writerRejectsOtherDataset() throws {
    let connection = try TestDatabase.connect(suite: "ingest.writerOtherDataset")
    let writer = ImpressionWriter(connection: connection, dataset: "d")
    let record = ImpressionRecord(dataset: "e", time: Date(), requestId: "a", click: 0)
    #expect(throws: ImportError.self) { try writer.write([record]) }
    let bad = ImpressionRecord(dataset: "d", time: Date(), requestId: "a", click: 2)
    #expect(throws: ImportError.self) { try writer.write([bad]) }
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 0)
  }

  @Test func rejectedRowWriterStoresRows() throws {
    let connection = try TestDatabase.connect(suite: "ingest.rejectedRows")
    let writer = RejectedRowWriter(connection: connection, batchSize: 1)
    try writer.append(
      RejectedRow(
        dataset: "d", sourceFile: "f.csv", lineNumber: 7, reason: "missing label",
        rawLine: "a\u{0}b"))
    try writer.flush()
    let rows = try connection.query(
      "SELECT dataset, source_file, line_number, reason, raw_line FROM adpilot.rejected_rows")
    #expect(rows.count == 1)
    #expect(try rows[0].string(1) == "f.csv")
    #expect(try rows[0].int64(2) == 7)
    #expect(try rows[0].string(3) == "missing label")
    #expect(try rows[0].string(4) == "ab")
  }

  @Test func writersFlushLongRowsEarly() throws {
    let connection = try TestDatabase.connect(suite: "ingest.writersFlushLongRows")
    let long = String(repeating: "x", count: 1 << 20)
    let rowsPerCopy = ImpressionWriter.maxPendingTextBytes / long.utf8.count
    let impressions = ImpressionWriter(connection: connection, dataset: "d")
    let rejects = RejectedRowWriter(connection: connection)
    let time = Date(timeIntervalSince1970: 1_370_476_800)
    try connection.transaction {
      for index in 0..<rowsPerCopy {
        #expect(impressions.written == 0)
        #expect(rejects.written == 0)
        try impressions.append(
          ImpressionRecord(
            dataset: "d", time: time, requestId: "r\(index)", cat: [long], click: 0))
        try rejects.append(
          RejectedRow(
            dataset: "d", sourceFile: "f.csv", lineNumber: index + 1, reason: "line too long",
            rawLine: long))
      }
      // Far fewer rows than a batch, but 16 MiB of text, so both writers copied them unflushed.
      #expect(impressions.written == rowsPerCopy)
      #expect(rejects.written == rowsPerCopy)
    }
    #expect(rowsPerCopy == 16)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 16)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.rejected_rows") == 16)
  }

  @Test func registerDatasetUpserts() throws {
    let connection = try TestDatabase.connect(suite: "ingest.registerDataset")
    try registerDataset(
      connection, name: "taobao", spec: TaobaoImporter.spec, validation: "time", source: "a")
    try registerDataset(
      connection, name: "taobao", spec: TaobaoImporter.spec, validation: "split", source: "b")
    let rows = try connection.query(
      "SELECT feature_spec::text, validation, source FROM adpilot.datasets")
    #expect(rows.count == 1)
    let spec = try JSONDecoder().decode(FeatureSpec.self, from: Data(try rows[0].string(0).utf8))
    #expect(spec == TaobaoImporter.spec)
    #expect(try rows[0].string(1) == "split")
    #expect(try rows[0].string(2) == "b")
    #expect(throws: ImportError.self) {
      try registerDataset(
        connection, name: "x", spec: TaobaoImporter.spec, validation: "random", source: "c")
    }
  }

  // MARK: - Criteo

  @Test func criteoLoadsRealFile() throws {
    let connection = try TestDatabase.connect(suite: "ingest.criteo")
    let file = TestData.shared("criteo-dac/criteo_dac_first10k.csv")
    let report = try CriteoImporter.importFile(connection, file: file)
    #expect(report.loaded == 9_999)
    #expect(report.clicks == 2_181)
    #expect(report.rejected.isEmpty)
    // The import loads both splits, so its line names none.
    #expect(report.split == nil)
    #expect(report.description == "\(file.path): dataset criteo, loaded 9999 rows (2181 clicks)")
    try expectSplits(connection, dataset: "criteo", train: (8_064, 1_779), test: (1_935, 402))

    #expect(report.replaced == 0)

    // A second import replaces the first and reports how many rows it replaced.
    let again = try CriteoImporter.importFile(connection, file: file)
    var expected = report
    expected.replaced = 9_999
    #expect(again == expected)
    #expect(again.description.hasSuffix("; replaced the 9999 rows loaded before"))
    try expectSplits(connection, dataset: "criteo", train: (8_064, 1_779), test: (1_935, 402))

    // Row 1 is the second data line: label 0, I1 = 2.0, I12 blank, C1 68fd1e64, C22 blank.
    let row = try connection.query(
      """
      SELECT extract(epoch FROM time)::float8, num_values[1], num_values[12] IS NULL,
             cat_values[1], cat_values[22] IS NULL, array_length(cat_values, 1),
             array_length(num_values, 1), user_id IS NULL
      FROM adpilot.impressions
      WHERE request_id = 'r1'
      """)
    #expect(row.count == 1)
    #expect(try row[0].double(0) == 1_388_534_401)
    #expect(try row[0].double(1) == 2)
    #expect(try row[0].bool(2))
    #expect(try row[0].string(3) == "68fd1e64")
    #expect(try row[0].bool(4))
    #expect(try row[0].int64(5) == 26)
    #expect(try row[0].int64(6) == 13)
    #expect(try row[0].bool(7))
    #expect(try datasetValidation(connection, "criteo") == "split")
  }

  @Test func criteoRejectsBadRowsInTabLayout() throws {
    let connection = try TestDatabase.connect(suite: "ingest.criteoTab")
    let file = TestData.fixture("criteo_dac_sample.txt")
    let report = try CriteoImporter.importFile(connection, file: file, dataset: "criteo_tab")
    #expect(report.loaded == 3)
    #expect(report.clicks == 2)
    #expect(
      report.rejected == [
        RejectReason.nonNumericNumber(in: "I13"): 1, RejectReason.wrongColumnCount: 1,
        RejectReason.missingLabel: 1,
      ])
    let rejected = try connection.query(
      "SELECT line_number, reason FROM adpilot.rejected_rows ORDER BY line_number")
    #expect(try rejected.map { try $0.int64(0) } == [3, 4, 5])
    #expect(
      try rejected.map { try $0.string(1) } == [
        RejectReason.nonNumericNumber(in: "I13"), RejectReason.wrongColumnCount,
        RejectReason.missingLabel,
      ])
    let ids = try connection.query(
      "SELECT request_id FROM adpilot.impressions ORDER BY request_id")
    #expect(try ids.map { try $0.string(0) } == ["r0", "r1", "r5"])

    _ = try CriteoImporter.importFile(connection, file: file, dataset: "criteo_tab")
    #expect(try count(connection, "SELECT count(*) FROM adpilot.rejected_rows") == 3)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 3)

    // A clean file under another name replaces the whole data set, rejections included.
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let clean = directory.appendingPathComponent("clean.txt")
    let text = try String(contentsOf: file, encoding: .utf8)
    try Data(text.split(separator: "\n").prefix(2).joined(separator: "\n").utf8).write(to: clean)
    let cleanReport = try CriteoImporter.importFile(
      connection, file: clean, dataset: "criteo_tab")
    #expect(cleanReport.loaded == 2)
    #expect(cleanReport.rejected.isEmpty)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.rejected_rows") == 0)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 2)

    // A row with bytes that are not UTF-8 is rejected, not loaded with U+FFFD in their place.
    var bytes = Array(text.split(separator: "\n").prefix(2).joined(separator: "\n").utf8)
    let tab = bytes.firstIndex(of: UInt8(ascii: "\t")) ?? 0
    bytes.insert(contentsOf: [0xFF, 0xFE], at: tab + 1)
    try Data(bytes).write(to: clean)
    let mangled = try CriteoImporter.importFile(connection, file: clean, dataset: "criteo_tab")
    #expect(mangled.loaded == 1)
    #expect(mangled.rejected == [RejectReason.invalidUTF8: 1])
    let stored = try connection.query("SELECT line_number, raw_line FROM adpilot.rejected_rows")
    #expect(try stored.map { try $0.int64(0) } == [1])
    #expect(try stored.first?.string(1).contains("\u{FFFD}\u{FFFD}") == true)
  }

  @Test func criteoReadsQuotedCSV() throws {
    let connection = try TestDatabase.connect(suite: "ingest.criteoQuoted")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    // The layout of Python's csv.writer with QUOTE_NONNUMERIC: every text field is quoted,
    // numbers are not, and a missing count is "".
    let header = (["label"] + (1...13).map { "I\($0)" } + (1...26).map { "C\($0)" })
      .map { "\"\($0)\"" }.joined(separator: ",")
    let counts = ["1.0", "\"\""] + Array(repeating: "2.0", count: 11)
    let categories = (1...26).map { "\"c\($0)\"" }
    let row = (["1"] + counts + categories).joined(separator: ",")
    // A quoted value with a line break leaves two lines that each end inside a quote, and text
    // after a closing quote is invalid quoting of another kind.
    let counts13 = Array(repeating: "1.0", count: 13).joined(separator: ",")
    let broken = "0,\(counts13),\"c1\nstill c1\"" + String(repeating: ",x", count: 25)
    let textAfterQuote = "0,\(counts13),\"c1\"x" + String(repeating: ",x", count: 25)
    let file = directory.appendingPathComponent("quoted.csv")
    try Data([header, row, row, broken, textAfterQuote].joined(separator: "\n").utf8).write(
      to: file)

    let report = try CriteoImporter.importFile(connection, file: file, dataset: "criteo_quoted")
    #expect(report.loaded == 2)
    #expect(report.clicks == 2)
    #expect(report.rejected == [RejectReason.unclosedQuote: 2, RejectReason.invalidQuoting: 1])
    #expect(
      report.unclosedQuoteNote
        == "note: 2 lines end inside a quoted field. Each line is read as one row, so a quoted "
        + "value that contains a line break splits its row; replace the line breaks inside "
        + "values (for example with spaces) and import the file again")
    let stored = try connection.query(
      """
      SELECT cat_values[1], cat_values[26], num_values[1], num_values[2] IS NULL
      FROM adpilot.impressions ORDER BY request_id LIMIT 1
      """)
    #expect(try stored.first?.optionalString(0) == "c1")
    #expect(try stored.first?.optionalString(1) == "c26")
    #expect(try stored.first?.optionalDouble(2) == 1)
    #expect(try stored.first?.bool(3) == true)
  }

  @Test func criteoRejectsReorderedHeader() throws {
    let connection = try TestDatabase.connect(suite: "ingest.criteoReordered")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    // The label moved to the end. Read by position, I1 would become the label and an empty C1
    // the count I13, so this row would load with every value in the wrong field.
    let header = ((1...13).map { "I\($0)" } + (1...26).map { "C\($0)" } + ["label"])
      .joined(separator: ",")
    let row = (Array(repeating: "1", count: 13) + [""] + (2...26).map { "c\($0)" } + ["0"])
      .joined(separator: ",")
    let file = directory.appendingPathComponent("reordered.csv")
    try Data([header, row, row].joined(separator: "\n").utf8).write(to: file)

    let error = #expect(throws: ImportError.self) {
      try CriteoImporter.importFile(connection, file: file, dataset: "criteo_reordered")
    }
    #expect(error?.line == 1)
    #expect(error?.message.contains("column 1 is 'I1' where the layout has 'label'") == true)
    #expect(error?.fix.contains("label, I1-I13, C1-C26") == true)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 0)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.datasets") == 0)

    // A header of the layout still loads.
    let ordered = (["label"] + (1...13).map { "I\($0)" } + (1...26).map { "C\($0)" })
      .joined(separator: ",")
    let orderedRow = (["0"] + Array(repeating: "1", count: 13) + (1...26).map { "c\($0)" })
      .joined(separator: ",")
    try Data([ordered, orderedRow].joined(separator: "\n").utf8).write(to: file)
    let report = try CriteoImporter.importFile(connection, file: file, dataset: "criteo_reordered")
    #expect(report.loaded == 1)
  }

  @Test func criteoRejectsOverlongLine() throws {
    let connection = try TestDatabase.connect(suite: "ingest.criteoLongLine")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let sample = try String(
      contentsOf: TestData.fixture("criteo_dac_sample.txt"), encoding: .utf8
    ).split(separator: "\n")
    // A label and one count of 3 MiB digits, far past the reader's line limit.
    let long = "0\t" + String(repeating: "9", count: 3 << 20)
    let file = directory.appendingPathComponent("long.txt")
    try Data(([String(sample[0]), long, String(sample[1])]).joined(separator: "\n").utf8)
      .write(to: file)

    let report = try CriteoImporter.importFile(connection, file: file, dataset: "criteo_long")
    #expect(report.loaded == 2)
    #expect(report.rejected == [RejectReason.lineTooLong: 1])
    let stored = try connection.query(
      "SELECT line_number, reason, length(raw_line) FROM adpilot.rejected_rows")
    #expect(stored.count == 1)
    #expect(try stored.first?.int64(0) == 2)
    #expect(try stored.first?.string(1) == RejectReason.lineTooLong)
    #expect(try stored.first?.int64(2) == Int64(LineReader.maxLineLength))
  }

  @Test func importNotesChampionOfOtherLayout() throws {
    let connection = try TestDatabase.connect(suite: "ingest.layout")
    let file = TestData.fixture("criteo_dac_sample.txt")
    _ = try CriteoImporter.importFile(connection, file: file, dataset: "relabeled")
    #expect(try championLayoutNote(connection, dataset: "relabeled") == nil)

    // A champion of a two-field layout under the data set's name.
    let spec = FeatureSpec(
      categorical: [
        CategoricalField(name: "user_city", role: .user, buckets: 16),
        CategoricalField(name: "ad_category", role: .ad, buckets: 16),
      ])
    var config = TrainingConfig()
    config.attentionHidden = [4]
    config.mlpHidden = [4]
    let registry = ModelRegistry(connection: connection)
    let record = try registry.register(
      try AttentionModel(spec: spec, config: config, seed: 1), name: "relabeled",
      metrics: [:], hyperparameters: [:], validationLogLoss: 0.5, trainWindow: nil)
    try registry.setAlias("champion", of: "relabeled", to: record.id, reason: "test")
    #expect(
      try championLayoutNote(connection, dataset: "relabeled")
        == "note: champion \(record.id) of 'relabeled' was trained on another feature spec than "
        + "the data set has now, so `adpilot score` and `adpilot worker` fail on the data set's "
        + "requests; train it again with `adpilot train --dataset relabeled`, which replaces "
        + "that champion")

    // A champion of the data set's own layout gets no note.
    let own = try registry.register(
      try AttentionModel(
        spec: try loadDataset(connection, name: "relabeled").spec, config: config, seed: 1),
      name: "relabeled", metrics: [:], hyperparameters: [:], validationLogLoss: 0.4,
      trainWindow: nil)
    try registry.setAlias("champion", of: "relabeled", to: own.id, reason: "test")
    #expect(try championLayoutNote(connection, dataset: "relabeled") == nil)
  }

  @Test func nulByteRowIsRejected() throws {
    let connection = try TestDatabase.connect(suite: "ingest.nul")
    let lines = try String(contentsOf: TestData.fixture("criteo_dac_sample.txt"), encoding: .utf8)
      .split(separator: "\n").prefix(2).map(String.init)
    // The second row's last field gets a NUL byte, which PostgreSQL text cannot store.
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("nul.txt")
    try Data((lines[0] + "\n" + lines[1] + "\0x\n").utf8).write(to: file)
    let report = try CriteoImporter.importFile(connection, file: file, dataset: "criteo_nul")
    #expect(report.loaded == 1)
    #expect(report.rejected == [RejectReason.nulByte: 1])
    let stored = try connection.query("SELECT line_number, raw_line FROM adpilot.rejected_rows")
    #expect(stored.count == 1)
    #expect(try stored.first?.int64(0) == 2)
    #expect(try stored.first?.string(1) == lines[1] + "\u{FFFD}x")
  }

  @Test func fileWithoutUsableRowsChangesNothing() throws {
    let connection = try TestDatabase.connect(suite: "ingest.nothingUsable")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let good = TestData.fixture("criteo_dac_sample.txt")
    _ = try CriteoImporter.importFile(connection, file: good, dataset: "criteo_tab")

    // An empty file, a header alone, and three lines of another format.
    let header = (["label"] + (1...13).map { "I\($0)" } + (1...26).map { "C\($0)" })
      .joined(separator: ",")
    let cases: [(name: String, text: String, detail: String)] = [
      ("empty.txt", "", "it has no data rows"),
      ("header.csv", header + "\n", "it has no data rows"),
      ("other.csv", "click,weekday\n0,2\n1,3\n", "3 rejected (wrong column count)"),
    ]
    for (name, text, detail) in cases {
      let file = directory.appendingPathComponent(name)
      try Data(text.utf8).write(to: file)
      let error = #expect(throws: ImportError.self) {
        try CriteoImporter.importFile(connection, file: file, dataset: "criteo_tab")
      }
      #expect(error?.file == file.path)
      #expect(error?.message.contains("(\(detail))") == true)
      #expect(error?.message.contains("'criteo_tab' was left unchanged") == true)
      #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 3)
      #expect(try count(connection, "SELECT count(*) FROM adpilot.rejected_rows") == 3)
    }
  }

  // MARK: - iPinYou CTR files

  @Test func iPinYouCTRLoadsTrainAndTest() throws {
    let connection = try TestDatabase.connect(suite: "ingest.ipinyouCTR")
    let train = TestData.shared("ipinyou/campaign2997_ctr_train.csv")
    let test = TestData.shared("ipinyou/campaign2997_ctr_test.csv")
    let trainReport = try IPinYouCTRImporter.importFile(connection, file: train)
    let testReport = try IPinYouCTRImporter.importFile(connection, file: test)
    #expect(trainReport.loaded == 26_773)
    #expect(trainReport.clicks == 255)
    #expect(testReport.loaded == 21_150)
    #expect(testReport.clicks == 50)
    #expect(trainReport.rejected.isEmpty)
    #expect(testReport.rejected.isEmpty)
    #expect(
      testReport.description
        == "\(test.path): dataset ipinyou_2997, split test, loaded 21150 rows (50 clicks)")
    #expect(trainReport.split == "train")
    // The two files log different days, so no row of one equals a row of the other.
    #expect(trainReport.rowsInOtherSplit == 0)
    #expect(testReport.rowsInOtherSplit == 0)
    #expect(testReport.sameRowsNote == nil)
    try expectSplits(
      connection, dataset: "ipinyou_2997", train: (26_773, 255), test: (21_150, 50))

    // Rerunning the train file replaces the train rows and leaves the test rows alone.
    #expect(try IPinYouCTRImporter.importFile(connection, file: train).replaced == 26_773)
    try expectSplits(
      connection, dataset: "ipinyou_2997", train: (26_773, 255), test: (21_150, 50))

    // The train file holds weekday 2 (Tuesday), hours 16-19: 2013-10-22 in the reference week.
    let range = try connection.query(
      """
      SELECT min(time AT TIME ZONE 'Asia/Shanghai')::text, count(DISTINCT ad_id),
             min(campaign_id)
      FROM adpilot.impressions
      WHERE split = 'train'
      """)
    #expect(try range[0].string(0) == "2013-10-22 16:00:00")
    #expect(try range[0].int64(1) == 1)
    #expect(try range[0].optionalString(2) == "2997")
    #expect(try datasetValidation(connection, "ipinyou_2997") == "split")
  }

  @Test func iPinYouCTRFileAsBothSplitsIsNoted() throws {
    let connection = try TestDatabase.connect(suite: "ingest.ipinyouCTRTwice")
    let train = TestData.shared("ipinyou/campaign2997_ctr_train.csv")
    let first = try IPinYouCTRImporter.importFile(connection, file: train, dataset: "twice")
    #expect(first.rowsInOtherSplit == 0)
    let second = try IPinYouCTRImporter.importFile(
      connection, file: train, split: "test", dataset: "twice")
    #expect(second.rowsInOtherSplit == 26_773)
    #expect(
      second.sameRowsNote
        == "note: 26773 rows of this file equal rows of split 'train' of data set 'twice' in "
        + "time, click and features, so both splits may come from the same file, and validation "
        + "would then score rows the models trained on. Check that the train file is another "
        + "file than this one")
  }

  @Test func splitImportRejectsRowsOfOtherFields() throws {
    let connection = try TestDatabase.connect(suite: "ingest.splitOverOtherFields")
    let criteo = TestData.shared("criteo-dac/criteo_dac_first10k.csv")
    let train = TestData.shared("ipinyou/campaign2997_ctr_train.csv")
    let test = TestData.shared("ipinyou/campaign2997_ctr_test.csv")
    let criteoReport = try CriteoImporter.importFile(connection, file: criteo, dataset: "mixed")
    let criteoRows = try count(
      connection, "SELECT count(*) FROM adpilot.impressions WHERE dataset = 'mixed'")
    #expect(criteoRows == Int64(criteoReport.loaded))

    // The criteo rows of the other split would stay behind under the iPinYou spec.
    let error = #expect(throws: ImportError.self) {
      try IPinYouCTRImporter.importFile(connection, file: train, dataset: "mixed")
    }
    #expect(error?.file == train.path)
    #expect(error?.message.hasPrefix("data set 'mixed' contains rows") == true)
    #expect(error?.message.contains("categorical 'C1'") == true)
    #expect(error?.message.contains("categorical 'weekday'") == true)
    #expect(error?.fix.contains("--dataset NAME") == true)
    #expect(
      try count(connection, "SELECT count(*) FROM adpilot.impressions WHERE dataset = 'mixed'")
        == criteoRows)
    #expect(try loadDataset(connection, name: "mixed").spec == CriteoImporter.spec)

    // Once the old rows are gone, both splits load.
    _ = try connection.execute("DELETE FROM adpilot.impressions WHERE dataset = 'mixed'")
    #expect(try IPinYouCTRImporter.importFile(connection, file: train, dataset: "mixed").loaded > 0)
    #expect(try IPinYouCTRImporter.importFile(connection, file: test, dataset: "mixed").loaded > 0)
    #expect(try loadDataset(connection, name: "mixed").spec == IPinYouCTRImporter.spec)
  }

  // MARK: - iPinYou raw log

  @Test func iPinYouLogLoadsFixtureAndRejectsBadRows() throws {
    let connection = try TestDatabase.connect(suite: "ingest.ipinyouLog")
    let file = TestData.fixture("ipinyou_log_train.txt")
    let report = try IPinYouLogImporter.importFile(connection, file: file)
    #expect(report.loaded == 4)
    #expect(report.clicks == 2)
    #expect(
      report.rejected == [
        RejectReason.missingLabel: 1, RejectReason.nonNumericCost: 1,
        RejectReason.wrongColumnCount: 1, RejectReason.nonNumericNumber(in: "slotprice"): 1,
        RejectReason.invalidTime: 1,
      ])
    let rejected = try connection.query(
      "SELECT line_number, reason FROM adpilot.rejected_rows ORDER BY line_number")
    #expect(try rejected.map { try $0.int64(0) } == [5, 6, 7, 9, 10])

    let rows = try connection.query(
      """
      SELECT request_id, user_id, ad_id, campaign_id, cost_micros,
             extract(epoch FROM time)::float8, num_values[1], cat_values[2], split
      FROM adpilot.impressions
      ORDER BY time
      """)
    #expect(try rows.map { try $0.string(0) } == ["bid0001", "bid0002", "bid0003", "bid0007"])
    #expect(try rows.map { try $0.optionalString(1) } == ["u-a", "u-b", nil, "u-a"])
    #expect(try rows.map { try $0.optionalString(2) } == ["c1001", "c1002", "c1001", "c1001"])
    #expect(try rows.map { try $0.optionalString(3) } == ["1458", "1458", "1458", "3358"])
    #expect(try rows.map { try $0.int64(4) } == [510, 870, 0, 3_000])
    #expect(try rows[0].double(5) == 1_370_475_000.123)
    #expect(try rows[3].double(6) == 5)
    #expect(try rows[3].string(7) == "0")
    #expect(try rows.allSatisfy { try $0.string(8) == "train" })
    #expect(try datasetValidation(connection, "ipinyou_raw") == "time")

    let testReport = try IPinYouLogImporter.importFile(
      connection, file: TestData.fixture("ipinyou_log_test.txt"))
    #expect(report.split == "train")
    #expect(testReport.split == "test")
    #expect(testReport.loaded == 2)
    #expect(testReport.clicks == 1)
    _ = try IPinYouLogImporter.importFile(connection, file: file)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 6)
    #expect(
      try count(connection, "SELECT count(*) FROM adpilot.impressions WHERE split = 'test'") == 2)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.rejected_rows") == 5)

    // The train split again from a file of another name replaces that split's rejected rows.
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let renamed = directory.appendingPathComponent("day2_train.txt")
    try FileManager.default.copyItem(at: file, to: renamed)
    _ = try IPinYouLogImporter.importFile(connection, file: renamed)
    let sources = """
      SELECT count(*) FROM adpilot.rejected_rows WHERE source_file = 'ipinyou_log_train.txt'
      """
    #expect(try count(connection, sources) == 0)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.rejected_rows") == 5)
    let renamedRows = """
      SELECT count(*) FROM adpilot.rejected_rows
      WHERE source_file = 'day2_train.txt' AND split = 'train'
      """
    #expect(try count(connection, renamedRows) == 5)
  }

  @Test func iPinYouLogCountsIdsOfOtherSplit() throws {
    let connection = try TestDatabase.connect(suite: "ingest.ipinyouLogOverlap")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let train = try IPinYouLogImporter.importFile(
      connection, file: TestData.fixture("ipinyou_log_train.txt"))
    #expect(train.idsInOtherSplit == 0)
    #expect(train.overlapNote == nil)

    // A test file whose first row repeats bid0001 of the train file.
    let fixture = try String(
      contentsOf: TestData.fixture("ipinyou_log_test.txt"), encoding: .utf8)
    let file = directory.appendingPathComponent("overlap_test.txt")
    try Data(fixture.replacingOccurrences(of: "tbid001", with: "bid0001").utf8).write(to: file)
    let test = try IPinYouLogImporter.importFile(connection, file: file)
    #expect(test.loaded == 2)
    #expect(test.idsInOtherSplit == 1)
    #expect(
      test.overlapNote
        == "note: 1 row of this file has a bid id that split 'train' of data set "
        + "'ipinyou_raw' contains too, so the data set logs those impressions twice and "
        + "training, allocation and backtests count them twice. Check that the train file "
        + "logs other days than this one, or import one of them with another --dataset")

    // Loading the train split again counts the same impression from its side.
    let again = try IPinYouLogImporter.importFile(
      connection, file: TestData.fixture("ipinyou_log_train.txt"))
    #expect(again.idsInOtherSplit == 1)
  }

  @Test func importRejectsIdsTooLongToKey() throws {
    let connection = try TestDatabase.connect(suite: "ingest.idTooLong")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let fixture = try String(
      contentsOf: TestData.fixture("ipinyou_log_train.txt"), encoding: .utf8)
    // About 4,000 random hexadecimal digits, which PostgreSQL cannot compress to fit its index.
    var generator = SystemRandomNumberGenerator()
    let longId = (0..<256).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
    #expect(longId.utf8.count > ImpressionRecord.maxIdBytes)
    let file = directory.appendingPathComponent("long_train.txt")
    try Data(fixture.replacingOccurrences(of: "bid0001", with: longId).utf8).write(to: file)

    let report = try IPinYouLogImporter.importFile(connection, file: file)
    #expect(report.loaded == 3)
    #expect(report.rejected[RejectReason.idTooLong] == 1)
    let queued = try ScoringJob(
      reader: connection, writer: connection, logger: Logger(minimumLevel: .error)
    )
    .queueRequests(fromImpressionsOf: "ipinyou_raw", split: nil, limit: 100)
    #expect(queued.added == 3)

    // A streams advertiser id is checked too, because it becomes the ad id of its rows.
    let streams = directory.appendingPathComponent("streams.csv")
    let advertiser = String(repeating: "7", count: ImpressionRecord.maxIdBytes + 1)
    try Data(
      """
      campaign,split,episode,step,click,market_price,pctr
      \(advertiser),validation,1,1,0,50,0.001
      1458,validation,1,1,0,50,0.001

      """.utf8
    ).write(to: streams)
    let streamReport = try IPinYouStreamImporter.importFile(connection, file: streams)
    #expect(streamReport.loaded == 1)
    #expect(streamReport.rejected[RejectReason.idTooLong] == 1)
  }

  @Test func iPinYouLogRejectsRepeatedBidsAndPartitionsOnlyLoggedDays() throws {
    let connection = try TestDatabase.connect(suite: "ingest.ipinyouLogIds")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let lines = try String(
      contentsOf: TestData.fixture("ipinyou_log_train.txt"), encoding: .utf8
    ).split(separator: "\n")
    // Line 2 (bid0001, 2013-06-06) as a template: the bid id is field 3, the time field 4.
    func row(bid: String, time: String, click: String = "0") -> String {
      var fields = lines[1].split(separator: "\t", omittingEmptySubsequences: false).map(
        String.init)
      (fields[0], fields[3], fields[4]) = (click, bid, time)
      return fields.joined(separator: "\t")
    }
    let hexBid = "0123456789abcdef0123456789abcdef"
    let file = directory.appendingPathComponent("ids_train.txt")
    let text = [
      String(lines[0]),
      row(bid: hexBid, time: "20130606073000123"),
      row(bid: "bid-x", time: "20130606080000000"),
      row(bid: hexBid, time: "20130606090000000", click: "1"),  // repeats line 2's bid id
      row(bid: "bid-x", time: "20130606100000000"),  // repeats line 3's
      row(bid: hexBid.uppercased(), time: "20130606110000000"),  // another id's text
      row(bid: "bid-far", time: "21000606101010000"),  // one stray day, 87 years on
      row(bid: "bid-zero", time: "00000101000000000"),  // before 1970
      row(bid: "bid-early", time: "19700101075959999"),  // 1969-12-31 23:59:59.999 UTC
      row(bid: "bid-epoch", time: "19700101080000000"),  // 1970-01-01 00:00 UTC
    ].joined(separator: "\n")
    try Data(text.utf8).write(to: file)
    let partitions = """
      SELECT count(*) FROM pg_inherits WHERE inhparent = 'adpilot.impressions'::regclass
      """
    let before = try count(connection, partitions)
    let report = try IPinYouLogImporter.importFile(connection, file: file, dataset: "raw_ids")
    #expect(report.loaded == 5)
    #expect(report.clicks == 0)
    #expect(report.rejected == [RejectReason.duplicateId: 2, RejectReason.invalidTime: 2])
    let rejected = try connection.query(
      "SELECT line_number, reason FROM adpilot.rejected_rows ORDER BY line_number")
    #expect(try rejected.map { try $0.int64(0) } == [4, 5, 8, 9])
    #expect(
      try rejected.map { try $0.string(1) } == [
        "duplicate id", "duplicate id", "invalid time", "invalid time",
      ])
    // 2013-06-05 and 06 (the first rows are before 08:00 in Beijing), 1970-01-01 and 2100-06-06.
    let days = try connection.query(
      """
      SELECT DISTINCT (time AT TIME ZONE 'UTC')::date::text FROM adpilot.impressions ORDER BY 1
      """)
    #expect(
      try days.map { try $0.string(0) } == ["1970-01-01", "2013-06-05", "2013-06-06", "2100-06-06"])
    #expect(try count(connection, partitions) - before <= 4)
    // The import names the longest run of empty days, between the 2013 rows and the stray one.
    let empty =
      daysFromCivil(year: 2100, month: 6, day: 6) - daysFromCivil(year: 2013, month: 6, day: 6) - 1
    #expect(report.dayGap == DayGap(before: "2013-06-06", after: "2100-06-06", emptyDays: empty))
  }

  @Test func importRollsBackWhenFileFailsMidway() throws {
    let connection = try TestDatabase.connect(suite: "ingest.rollback")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }

    // A good first load of the file name, then a broken file under the same name.
    let fixture = try String(contentsOf: TestData.fixture("ipinyou_log_train.txt"), encoding: .utf8)
    let lines = fixture.split(separator: "\n")
    let plain = directory.appendingPathComponent("log.txt")
    try Data(fixture.utf8).write(to: plain)
    try runGzip(plain)
    let compressed = directory.appendingPathComponent("log.txt.gz")
    let first = try IPinYouLogImporter.importFile(connection, file: compressed)
    #expect(first.loaded == 4)

    // 30,000 copies of a good row: several COPY batches are sent before gzip reports the cut.
    let body = (0..<30_000).map { index in
      lines[1].replacingOccurrences(of: "bid0001", with: "big\(index)")
    }
    try Data(([String(lines[0])] + body).joined(separator: "\n").utf8).write(to: plain)
    try runGzip(plain)
    let bytes = try Data(contentsOf: compressed)
    try bytes.prefix(bytes.count * 3 / 4).write(to: compressed)

    // More lines than one COPY batch (4096 rows) come out before gzip fails.
    let reader = try LineReader(url: compressed)
    var readable = 0
    #expect(throws: ImportError.self) {
      while try reader.next() != nil { readable += 1 }
    }
    #expect(readable > 2 * 4_096)

    let error = #expect(throws: ImportError.self) {
      try IPinYouLogImporter.importFile(connection, file: compressed)
    }
    #expect(error?.file == compressed.path)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 4)
    #expect(
      try count(connection, "SELECT count(*) FROM adpilot.impressions WHERE request_id = 'big0'")
        == 0)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.rejected_rows") == 5)
  }

  @Test func lockTableErrorNamesDays() throws {
    let connection = try TestDatabase.connect(suite: "ingest.lockTableError")
    let file = URL(fileURLWithPath: "/data/log.txt")
    let start = Date(timeIntervalSince1970: 1_370_476_800)  // 2013-06-06T00:00:00Z
    // The server's error is raised by hand, because filling the real lock table, which all
    // sessions share, would fail the transactions of suites running at the same time.
    let error = #expect(throws: ImportError.self) {
      try ImportSession.run(connection: connection, dataset: "d", file: file, splits: ["train"]) {
        session in
        try session.load(ImpressionRecord(dataset: "d", time: start, requestId: "a", click: 0))
        try session.load(
          ImpressionRecord(
            dataset: "d", time: start.addingTimeInterval(9 * 86_400), requestId: "b", click: 0))
        try session.finish()
        throw PostgresError(kind: .query, message: "out of shared memory", sqlState: "53200")
      }
    }
    #expect(error?.file == "/data/log.txt")
    #expect(
      error?.message
        == "the database server ran out of lock slots (out of shared memory) after this file's "
        + "rows reached 2 UTC days from 2013-06-06 to 2013-06-15, each a partition of "
        + "adpilot.impressions that the import locks, so data set 'd' was left unchanged")
    #expect(error?.fix.contains("max_locks_per_transaction") == true)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 0)
  }

  @Test func importersNameUnreadableFile() throws {
    let connection = try TestDatabase.connect(suite: "ingest.unreadable")
    let missing = URL(fileURLWithPath: "/nonexistent/adpilot/input_test.csv")
    let imports: [() throws -> ImportReport] = [
      { try CriteoImporter.importFile(connection, file: missing) },
      { try IPinYouCTRImporter.importFile(connection, file: missing) },
      { try IPinYouLogImporter.importFile(connection, file: missing) },
      { try TaobaoImporter.importFile(connection, file: missing) },
      { try IPinYouStreamImporter.importFile(connection, file: missing) },
    ]
    for run in imports {
      let error = #expect(throws: ImportError.self) { try run() }
      #expect(error?.file == missing.path)
      #expect(error?.description.contains("input_test.csv") == true)
    }
    #expect(try count(connection, "SELECT count(*) FROM adpilot.datasets") == 0)
  }

  // MARK: - Taobao

  @Test func taobaoLoadsRealFileWithUsersAndSequences() throws {
    let connection = try TestDatabase.connect(suite: "ingest.taobao")
    let file = TestData.shared("taobao-alimama-dmr/alimama_dmr_sample.csv")
    let report = try TaobaoImporter.importFile(connection, file: file)
    #expect(report.loaded == 500)
    #expect(report.clicks == 210)
    #expect(report.rejected.isEmpty)
    try expectSplits(connection, dataset: "taobao", train: (394, 168), test: (106, 42))
    #expect(try count(connection, "SELECT count(*) FROM adpilot.users") == 230)
    // 24,879 real behaviours (mask 1) in the file, two sub-fields each.
    #expect(
      try count(connection, "SELECT sum(cardinality(seq_values)) FROM adpilot.impressions")
        == 2 * 24_879)

    // Row 0: most recent behaviour (position 49) first, then position 48.
    let row = try connection.query(
      """
      SELECT seq_values[1:4]::text, user_id, ad_id, campaign_id, num_values[1],
             cat_values[1:8]::text
      FROM adpilot.impressions
      WHERE request_id = 'r0'
      """)
    #expect(try row[0].string(0) == "{8998,205025,8998,270044}")
    #expect(try row[0].optionalString(1) == "1000043")
    #expect(try row[0].optionalString(2) == "328301")
    #expect(try row[0].optionalString(3) == "233148")
    #expect(try row[0].double(4) == 0.98971260954681)
    #expect(try row[0].string(5) == "{27,4,2,4,1,2,0,4}")
    let profile = try connection.query(
      "SELECT profile::text FROM adpilot.users WHERE user_id = '1000043'")
    #expect(try profile[0].string(0) == "{27,4,2,4,1,2,0,4}")

    _ = try TaobaoImporter.importFile(connection, file: file)
    try expectSplits(connection, dataset: "taobao", train: (394, 168), test: (106, 42))
    #expect(try count(connection, "SELECT count(*) FROM adpilot.users") == 230)
  }

  @Test func taobaoRejectsBadRows() throws {
    let connection = try TestDatabase.connect(suite: "ingest.taobaoBad")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let source = try String(
      contentsOf: TestData.shared("taobao-alimama-dmr/alimama_dmr_sample.csv"), encoding: .utf8)
    let lines = source.split(separator: "\n").prefix(7).map(String.init)
    let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    func edited(_ line: String, _ column: String, _ value: String) throws -> String {
      var fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      fields[try #require(header.firstIndex(of: column))] = value
      return fields.joined(separator: ",")
    }
    let rows = [
      lines[1],
      try edited(lines[2], "target", ""),
      try edited(lines[3], "price", "cheap"),
      String(lines[4].dropLast(2)),  // the last field (target) and its comma cut off
      try edited(lines[5], "mask_49", "2"),
      lines[6],
    ]
    let file = directory.appendingPathComponent("taobao_bad.csv")
    try Data(([lines[0]] + rows).joined(separator: "\n").utf8).write(to: file)

    let report = try TaobaoImporter.importFile(connection, file: file)
    #expect(report.loaded == 2)
    #expect(
      report.rejected == [
        RejectReason.missingLabel: 1, RejectReason.nonNumericNumber(in: "price"): 1,
        RejectReason.wrongColumnCount: 1, RejectReason.invalidMask: 1,
      ])
    let rejected = try connection.query(
      "SELECT line_number FROM adpilot.rejected_rows ORDER BY line_number")
    #expect(try rejected.map { try $0.int64(0) } == [3, 4, 5, 6])
    // Rows 0 and 5 keep their row numbers (request ids and times) although rows between failed.
    let ids = try connection.query(
      "SELECT request_id FROM adpilot.impressions ORDER BY request_id")
    #expect(try ids.map { try $0.string(0) } == ["r0", "r5"])
  }

  @Test func iPinYouCTRRejectsBadRows() throws {
    let connection = try TestDatabase.connect(suite: "ingest.ipinyouCTRBad")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let text = """
      click,weekday,hour,useragent,IP,region,city,adexchange,domain,slotid,slotwidth,slotheight,\
      slotvisibility,slotformat,slotprice,creative,advertiser
      0,2,18,android_safari,1.2.3.*,40,53,null,d1,s1,320,50,FirstView,Na,1-10,11908,2997
      ,2,18,android_safari,1.2.3.*,40,53,null,d1,s1,320,50,FirstView,Na,1-10,11908,2997
      1,2,18,android_safari,1.2.3.*,40,53,null,d1,s1,320,50,FirstView,Na,1-10,11908
      1,7,18,android_safari,1.2.3.*,40,53,null,d1,s1,320,50,FirstView,Na,1-10,11908,2997
      1,3,0,android_safari,1.2.3.*,40,53,null,d1,s1,320,50,FirstView,Na,1-10,11908,2997
      """
    let file = directory.appendingPathComponent("small.csv")
    try Data(text.utf8).write(to: file)
    let report = try IPinYouCTRImporter.importFile(connection, file: file, split: "train")
    #expect(report.loaded == 2)
    #expect(report.clicks == 1)
    #expect(
      report.rejected == [
        RejectReason.missingLabel: 1, RejectReason.wrongColumnCount: 1,
        RejectReason.invalidTime: 1,
      ])
    // Wednesday (3) 00:00 Beijing in the reference week is 2013-10-22T16:00:00Z.
    let times = try connection.query(
      "SELECT extract(epoch FROM time)::float8 FROM adpilot.impressions WHERE click = 1")
    #expect(try times.map { try $0.double(0) } == [1_382_457_600])
  }

  // MARK: - iPinYou market-price streams

  @Test func streamsLoadRealFile() throws {
    let connection = try TestDatabase.connect(suite: "ingest.streams")
    let file = TestData.shared("ipinyou/rlb_market_price_streams.csv.gz")
    let report = try IPinYouStreamImporter.importFile(connection, file: file)
    #expect(report.loaded == 900_000)
    #expect(report.clicks == 1_710)
    #expect(report.rejected.isEmpty)
    #expect(report.skipped == ["test split": 156_063])

    let totals = try connection.query(
      """
      SELECT count(*), sum(cost_micros), count(DISTINCT campaign_id),
             count(DISTINCT (time AT TIME ZONE 'Asia/Shanghai')::date),
             min(time AT TIME ZONE 'Asia/Shanghai')::text,
             max(time AT TIME ZONE 'Asia/Shanghai')::text,
             count(*) FILTER (WHERE logged_pctr IS NULL)
      FROM adpilot.impressions
      """)
    #expect(try totals[0].int64(0) == 900_000)
    #expect(try totals[0].int64(1) == 716_775_170)
    #expect(try totals[0].int64(2) == 9)
    #expect(try totals[0].int64(3) == 100)
    #expect(try totals[0].string(4) == "2013-06-06 00:00:00")
    // Step 1000 of day 100 (2013-09-13): 999 * 86.4 s = 23:58:33.6.
    #expect(try totals[0].string(5) == "2013-09-13 23:58:33.6")
    #expect(try totals[0].int64(6) == 0)

    // Every day has 1000 impressions of each advertiser, 41 or 42 per local hour.
    let perDay = try connection.query(
      """
      SELECT min(n), max(n) FROM (
        SELECT count(*) AS n
        FROM adpilot.impressions
        GROUP BY campaign_id, (time AT TIME ZONE 'Asia/Shanghai')::date
      ) AS days
      """)
    #expect(try perDay[0].int64(0) == 1_000)
    #expect(try perDay[0].int64(1) == 1_000)
    let perHour = try connection.query(
      """
      SELECT count(*) FROM adpilot.impressions
      WHERE campaign_id = 'ipinyou-1458' AND request_id LIKE '1458-1-%'
        AND extract(hour FROM time AT TIME ZONE 'Asia/Shanghai') = 0
      """)
    #expect(try perHour[0].int64(0) == 42)  // steps 1..42: floor((s - 1) * 24 / 1000) = 0
    #expect(try datasetValidation(connection, "ipinyou_rlb") == "time")
  }

  @Test func streamsRejectFileNotRegular() throws {
    let connection = try TestDatabase.connect(suite: "ingest.streamsNotRegular")
    // A device, like the pipe of a shell's `<(zcat FILE)`, yields its rows to one read only.
    let device = URL(fileURLWithPath: "/dev/null")
    let error = #expect(throws: ImportError.self) {
      try IPinYouStreamImporter.importFile(connection, file: device)
    }
    #expect(error?.file == "/dev/null")
    #expect(error?.message.contains("not a regular file") == true)
    #expect(error?.fix.contains("write the rows to a file first") == true)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.datasets") == 0)
  }

  @Test func streamsRerunAndRejectOnSmallFile() throws {
    let connection = try TestDatabase.connect(suite: "ingest.streamsSmall")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("streams.csv")
    let text = """
      campaign,split,episode,step,click,market_price,pctr
      7,validation,12,1,0,50,0.001
      7,validation,12,2,1,70,0.002
      7,validation,30,1,0,abc,0.001
      7,validation,30,2,0,40,
      8,validation,5,1000,0,60,0.003
      8,test,1,1,0,60,0.003
      8,validation,5,3
      7,validation,12,2,1,900,0.002
      7,validation,0,4,1,900,0.002
      7,validation,-3,8,1,900,0.002
      7 ,validation,12,8,1,900,0.002
      """
    try Data(text.utf8).write(to: file)
    for _ in 0..<2 {
      let report = try IPinYouStreamImporter.importFile(connection, file: file)
      #expect(report.loaded == 4)
      #expect(report.clicks == 1)
      #expect(report.skipped == ["test split": 1])
      #expect(
        report.rejected == [
          RejectReason.nonNumericCost: 1, RejectReason.wrongColumnCount: 1,
          RejectReason.duplicateId: 1, RejectReason.invalidTime: 1, RejectReason.invalidId: 2,
        ])
    }
    // The totals the allocator reads leave out the repeated step as the load does.
    let summary = try IPinYouStreamSummary(file: file)
    #expect(summary.advertisers["7"]?.impressions == 3)
    #expect(summary.advertisers["7"]?.clicks == 1)
    #expect(summary.advertisers["7"]?.costMicros == 1_600)
    #expect(try count(connection, "SELECT count(*) FROM adpilot.impressions") == 4)
    // Advertiser 7: episode 12 is day 1, episode 30 day 2; advertiser 8: episode 5 is day 1.
    let times = try connection.query(
      """
      SELECT request_id, (time AT TIME ZONE 'Asia/Shanghai')::text, cost_micros, logged_pctr
      FROM adpilot.impressions
      ORDER BY request_id
      """)
    #expect(
      try times.map { try $0.string(0) } == ["7-12-1", "7-12-2", "7-30-2", "8-5-1000"])
    #expect(
      try times.map { try $0.string(1) } == [
        "2013-06-06 00:00:00", "2013-06-06 00:01:26.4", "2013-06-07 00:01:26.4",
        "2013-06-06 23:58:33.6",
      ])
    #expect(try times.map { try $0.int64(2) } == [500, 700, 400, 600])
    #expect(try times[2].optionalDouble(3) == nil)
  }

  @Test func streamsRejectNonCanonicalIds() throws {
    let connection = try TestDatabase.connect(suite: "ingest.streamsIds")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("streams.csv")
    let lines = [
      "campaign,split,episode,step,click,market_price,pctr",
      "1458,validation,3,1,0,50,0.001",
      "01458,validation,3,2,0,50,0.001",
      "1458,validation,+3,3,0,50,0.001",
      "1458,validation,3,04,0,50,0.001",
      "1458,validation,,5,0,50,0.001",
      "1458,validation,4,1,1,70,0.002",
    ]
    try Data(lines.joined(separator: "\n").utf8).write(to: file)
    let report = try IPinYouStreamImporter.importFile(connection, file: file)
    #expect(report.loaded == 2)
    #expect(report.rejected == [RejectReason.invalidId: 3, RejectReason.missingId: 1])
    let summary = try IPinYouStreamSummary(file: file)
    #expect(Set(summary.advertisers.keys) == ["1458"])
    #expect(summary.advertisers["1458"]?.episodes == [3, 4])

    let loaded = try connection.query(
      "SELECT request_id, campaign_id FROM adpilot.impressions ORDER BY request_id")
    #expect(try loaded.map { try $0.string(0) } == ["1458-3-1", "1458-4-1"])
    #expect(try loaded.map { try $0.optionalString(1) } == ["ipinyou-1458", "ipinyou-1458"])
    let rejected = try connection.query(
      "SELECT line_number, reason, raw_line FROM adpilot.rejected_rows ORDER BY line_number")
    #expect(try rejected.map { try $0.int64(0) } == [3, 4, 5, 6])
    #expect(
      try rejected.map { try $0.string(1) } == [
        RejectReason.invalidId, RejectReason.invalidId, RejectReason.invalidId,
        RejectReason.missingId,
      ])
    #expect(try rejected.map { try $0.string(2) } == Array(lines[2...5]))
  }

  // MARK: - Empty lines

  @Test func emptyLinesRejectedAsEmpty() throws {
    let connection = try TestDatabase.connect(suite: "ingest.emptyLines")
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    func firstLines(_ file: URL, _ count: Int) throws -> [String] {
      try String(contentsOf: file, encoding: .utf8).split(separator: "\n").prefix(count)
        .map(String.init)
    }
    let streams = [
      "campaign,split,episode,step,click,market_price,pctr",
      "7,validation,12,1,0,50,0.001",
      "7,validation,12,2,1,70,0.002",
    ]
    // Each file: a header line, two data lines with an empty line between them, then an empty
    // line and one of only CR, which the reader reads as empty too.
    let cases: [(name: String, lines: [String], load: (URL) throws -> ImportReport)] = [
      (
        "criteo.csv", try firstLines(TestData.shared("criteo-dac/criteo_dac_first10k.csv"), 3),
        { try CriteoImporter.importFile(connection, file: $0) }
      ),
      (
        "ctr_train.csv", try firstLines(TestData.shared("ipinyou/campaign2997_ctr_train.csv"), 3),
        { try IPinYouCTRImporter.importFile(connection, file: $0) }
      ),
      (
        "raw_train.txt", try firstLines(TestData.fixture("ipinyou_log_train.txt"), 3),
        { try IPinYouLogImporter.importFile(connection, file: $0) }
      ),
      (
        "taobao.csv",
        try firstLines(TestData.shared("taobao-alimama-dmr/alimama_dmr_sample.csv"), 3),
        { try TaobaoImporter.importFile(connection, file: $0) }
      ),
      ("streams.csv", streams, { try IPinYouStreamImporter.importFile(connection, file: $0) }),
    ]
    for (name, lines, load) in cases {
      let file = directory.appendingPathComponent(name)
      let text = [lines[0], lines[1], "", lines[2], "", "\r", ""].joined(separator: "\n")
      try Data(text.utf8).write(to: file)
      let report = try load(file)
      #expect(report.loaded == 2, "\(name)")
      #expect(report.rejected == [RejectReason.emptyLine: 3], "\(name)")
      #expect(report.description.contains("rejected 3 (empty line)"), "\(name)")
      let stored = try connection.query(
        """
        SELECT line_number, reason, raw_line
        FROM adpilot.rejected_rows
        WHERE source_file = $1
        ORDER BY line_number
        """, [.text(name)])
      #expect(try stored.map { try $0.int64(0) } == [3, 5, 6], "\(name)")
      #expect(try stored.map { try $0.string(1) } == Array(repeating: "empty line", count: 3))
      #expect(try stored.map { try $0.string(2) } == ["", "", ""], "\(name)")
    }

    // A Criteo log without a header, starting with an empty line, still reads as tab-separated.
    let tabLines = try firstLines(TestData.fixture("criteo_dac_sample.txt"), 2)
    let tabFile = directory.appendingPathComponent("leading_empty.txt")
    try Data((["", tabLines[0], tabLines[1]].joined(separator: "\n") + "\n").utf8).write(
      to: tabFile)
    let tabReport = try CriteoImporter.importFile(connection, file: tabFile, dataset: "tab")
    #expect(tabReport.loaded == 2)
    #expect(tabReport.rejected == [RejectReason.emptyLine: 1])
  }

  // MARK: - Campaign files

  @Test func iPinYouCampaignFilesMatchCommittedFiles() throws {
    let files = try IPinYouCampaigns.files(
      trainInfo: TestData.shared("ipinyou/rlb_campaign_train_info.tsv"),
      streams: TestData.shared("ipinyou/rlb_market_price_streams.csv.gz"))
    let directory = TestData.packageRoot.appendingPathComponent("campaigns/ipinyou_rlb")
    if ProcessInfo.processInfo.environment["ADPILOT_WRITE_CAMPAIGNS"] == "1" {
      try IPinYouCampaigns.write(files, to: directory)
    }

    // Expected values from an independent Python script over the same two files.
    let expected: [String: (valuePerClick: Int, dailyBudget: Int)] = [
      "1458": (865_527, 663_737), "2259": (2_776_961, 877_849), "2261": (2_976_374, 872_243),
      "2821": (1_400_739, 866_608), "2997": (142_057, 589_633), "3358": (1_185_148, 928_320),
      "3386": (1_055_236, 757_252), "3427": (1_091_588, 821_617), "3476": (1_519_849, 790_493),
    ]
    #expect(files.count == 10)
    for file in files {
      let committed = try String(
        contentsOf: directory.appendingPathComponent(file.name), encoding: .utf8)
      #expect(committed == file.json, "\(file.name) differs from the built file")
      let object = try #require(
        JSONSerialization.jsonObject(with: Data(file.json.utf8)) as? [String: Any])
      if file.name == "portfolio.json" {
        #expect(object["daily_budget_micros"] as? Int == 1_791_938)
        continue
      }
      let advertiser = try #require(object["advertiser"] as? String)
      let values = try #require(expected[advertiser])
      #expect(object["value_per_click_micros"] as? Int == values.valuePerClick)
      #expect(object["daily_budget_micros"] as? Int == values.dailyBudget)
    }
  }
}

// MARK: - Helpers

private func count(_ connection: Connection, _ sql: String) throws -> Int64 {
  try connection.query(sql)[0].int64(0)
}

private func datasetValidation(_ connection: Connection, _ name: String) throws -> String? {
  try connection.query("SELECT validation FROM adpilot.datasets WHERE name = $1", [.text(name)])
    .first?.string(0)
}

/// Checks rows and clicks of each split of `dataset`.
private func expectSplits(
  _ connection: Connection, dataset: String, train: (rows: Int64, clicks: Int64),
  test: (rows: Int64, clicks: Int64), sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let rows = try connection.query(
    """
    SELECT split, count(*), sum(click)
    FROM adpilot.impressions
    WHERE dataset = $1
    GROUP BY split
    ORDER BY split
    """, [.text(dataset)])
  var found: [String: (Int64, Int64)] = [:]
  for row in rows {
    found[try row.string(0)] = (try row.int64(1), try row.int64(2))
  }
  #expect(found["train"]?.0 == train.rows, sourceLocation: sourceLocation)
  #expect(found["train"]?.1 == train.clicks, sourceLocation: sourceLocation)
  #expect(found["test"]?.0 == test.rows, sourceLocation: sourceLocation)
  #expect(found["test"]?.1 == test.clicks, sourceLocation: sourceLocation)
}
