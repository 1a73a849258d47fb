// Tests of the importers' line parsing, time arithmetic, row split and file reading, without a
// database. Expected values were worked out by hand or with an independent script.

import CTR
import Foundation
import Testing

@testable import AdPilot

@Suite struct ImportParsingTests {
  @Test func importerSpecsValidate() throws {
    let specs = [
      CriteoImporter.spec, IPinYouCTRImporter.spec, IPinYouLogImporter.spec, TaobaoImporter.spec,
    ]
    for spec in specs {
      try spec.validate()
    }
    #expect(CriteoImporter.spec.categorical.allSatisfy { $0.role == .context })
    #expect(CriteoImporter.spec.numeric.allSatisfy { $0.role == .context })
    #expect(TaobaoImporter.spec.sequence.map(\.sharesEmbeddingWith) == ["cate_id", "brand"])
    // The streams carry no features, so their spec is empty and training on it is rejected.
    #expect(throws: CTRError.self) { try IPinYouStreamImporter.spec.validate() }
  }

  @Test func taobaoRecordEncodesWithSequence() throws {
    let file = TestData.shared("taobao-alimama-dmr/alimama_dmr_sample.csv")
    let reader = try LineReader(url: file)
    let header = try #require(try reader.next())
    let columns = try TaobaoImporter.Columns(
      header: DelimitedHeader(line: header, separator: ","), file: file.path)
    let line = try #require(try reader.next())
    guard
      case .record(let record) = TaobaoImporter.parse(
        line, row: 0, columns: columns, seed: 0, dataset: "taobao")
    else {
      Issue.record("expected a record")
      return
    }
    // The first row's history is full: 50 items of two sub-fields.
    #expect(record.seq.count == 100)
    #expect(Array(record.seq.prefix(4)) == ["8998", "205025", "8998", "270044"])
    #expect(record.cat.count == TaobaoImporter.spec.categorical.count)
    #expect(record.cat[8] == "328301")  // mid
    #expect(record.cat[13] == "1")  // pid

    let encoder = FeatureEncoder(spec: TaobaoImporter.spec)
    var batch = EncodedBatch(spec: TaobaoImporter.spec, capacity: 1)
    encoder.append(
      cat: record.cat, num: record.num, seq: record.seq, label: Float(record.click), to: &batch)
    #expect(batch.count == 1)
    #expect(batch.labels == [Float(record.click)])
  }

  @Test func lineReaderStreamsLinesWithNumbers() throws {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("lines.txt")
    // 70k bytes in the first line crosses the reader's 64 KiB chunk boundary.
    let long = String(repeating: "x", count: 70_000)
    try Data((long + "\nb\r\n\nlast").utf8).write(to: file)

    let reader = try LineReader(url: file)
    #expect(try reader.next() == long)
    #expect(try reader.next() == "b")
    #expect(try reader.next() == "")
    #expect(try reader.next() == "last")
    #expect(reader.lineNumber == 4)
    #expect(try reader.next() == nil)
  }

  @Test func lineReaderCutsOverlongLines() throws {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("long.txt")
    let limit = LineReader.maxLineLength
    let justOver = String(repeating: "y", count: limit + 10)
    // Three times the limit, so the reader reads past most of it without keeping it.
    let far = String(repeating: "z", count: 3 * limit)
    let unterminated = String(repeating: "w", count: limit + 5)
    try Data("a\n\(justOver)\n\(far)\r\nb\n\(unterminated)".utf8).write(to: file)

    let reader = try LineReader(url: file)
    #expect(try reader.next() == "a")
    #expect(reader.lastLineRejectReason == nil)
    #expect(try reader.next() == String(repeating: "y", count: limit))
    #expect(reader.lastLineIsTooLong)
    #expect(reader.lastLineRejectReason == RejectReason.lineTooLong)
    #expect(try reader.next() == String(repeating: "z", count: limit))
    #expect(reader.lastLineIsTooLong)
    #expect(try reader.next() == "b")
    #expect(!reader.lastLineIsTooLong)
    #expect(reader.lineNumber == 4)
    #expect(try reader.next() == String(repeating: "w", count: limit))
    #expect(reader.lastLineIsTooLong)
    #expect(try reader.next() == nil)
  }

  @Test func csvLineReadsQuotedFields() {
    #expect(splitCSVLine("a,b,,c") == ["a", "b", "", "c"])
    #expect(splitCSVLine(#"0,"x,y","",2"#) == ["0", "x,y", "", "2"])
    #expect(splitCSVLine(#""say ""hi""",z,"#) == [#"say "hi""#, "z", ""])
    #expect(splitCSVLine(#""""#) == [""])
    // Quotes that do not pair up make the line invalid rather than part of a value.
    #expect(splitCSVLine(#"0,"open"#) == nil)
    #expect(splitCSVLine(#"0,"closed"after,1"#) == nil)
    #expect(splitCSVLine(#"0,in"side,1"#) == nil)
  }

  @Test func csvQuotingReasonNamesUnclosedQuote() {
    #expect(csvQuotingReason(#"0,"open"#) == RejectReason.unclosedQuote)
    #expect(csvQuotingReason(#"rest of a value",1"#) == RejectReason.unclosedQuote)
    #expect(csvQuotingReason(#"0,"say ""hi"#) == RejectReason.unclosedQuote)
    #expect(csvQuotingReason(#"0,"closed"after,1"#) == RejectReason.invalidQuoting)
    #expect(csvQuotingReason(#"0,in"side"x,1"#) == RejectReason.invalidQuoting)
  }

  @Test func lineReaderDecompressesGzip() throws {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let plain = directory.appendingPathComponent("a.csv")
    try Data("h\n1\n2\n".utf8).write(to: plain)
    try runGzip(plain)

    let reader = try LineReader(url: directory.appendingPathComponent("a.csv.gz"))
    var lines: [String] = []
    while let line = try reader.next() { lines.append(line) }
    #expect(lines == ["h", "1", "2"])
  }

  @Test func lineReaderRejectsGzipWithoutSuffix() throws {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let plain = directory.appendingPathComponent("a.csv")
    try Data("h\n1\n".utf8).write(to: plain)
    try runGzip(plain)
    let hidden = directory.appendingPathComponent("b.csv")
    try FileManager.default.moveItem(at: directory.appendingPathComponent("a.csv.gz"), to: hidden)

    let error = #expect(throws: ImportError.self) { try LineReader(url: hidden) }
    #expect(error?.file == hidden.path)
    #expect(error?.message == "is gzip-compressed but its name does not end in .gz")
    #expect(error?.fix == "rename it to end in .gz, or decompress it with gunzip")
  }

  @Test func lineReaderNamesMissingFile() throws {
    let missing = URL(fileURLWithPath: "/nonexistent/adpilot/criteo.csv")
    let error = #expect(throws: ImportError.self) { try LineReader(url: missing) }
    #expect(error?.file == "/nonexistent/adpilot/criteo.csv")
    #expect(error?.message == "file not found")

    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let notAFile = #expect(throws: ImportError.self) { try LineReader(url: directory) }
    #expect(notAFile?.file == directory.path)
    #expect(notAFile?.message == "not a readable regular file")
  }

  @Test func headerErrorsNameTheEmptyFirstLine() throws {
    let empty = DelimitedHeader(line: "", separator: ",")
    let error = #expect(throws: ImportError.self) {
      try empty.positions(of: ["click"], file: "ctr.csv")
    }
    #expect(error?.line == 1)
    #expect(error?.message == "the header line is empty")

    let other = DelimitedHeader(line: "a,b", separator: ",")
    let missing = #expect(throws: ImportError.self) {
      try other.positions(of: ["click", "b"], file: "ctr.csv")
    }
    #expect(missing?.message == "missing column(s) click in the header")

    // A data row in place of the header is named as such, not as every column missing.
    let data = DelimitedHeader(line: "0,2,18,android_safari", separator: ",")
    let noHeader = #expect(throws: ImportError.self) {
      try data.positions(of: ["click", "weekday", "hour", "useragent"], file: "ctr.csv")
    }
    #expect(noHeader?.line == 1)
    #expect(
      noHeader?.message
        == "line 1 names none of the 4 columns of this format (click, weekday, hour, ...), "
        + "and its first fields are '0', '2', '18'")

    // A comma-separated line read as tab-separated is one field, shown cut to 40 characters.
    let comma = DelimitedHeader(
      line: "click,weekday,hour,useragent,IP,region,city,adexchange", separator: "\t")
    let oneField = #expect(throws: ImportError.self) {
      try comma.positions(of: ["click", "weekday", "hour", "useragent"], file: "log.txt")
    }
    #expect(
      oneField?.message
        == "line 1 names none of the 4 columns of this format (click, weekday, hour, ...), "
        + "and its first fields are 'click,weekday,hour,useragent,IP,region,c...'")
  }

  @Test func lineReaderFailsOnTruncatedGzip() throws {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let plain = directory.appendingPathComponent("big.csv")
    let text = (0..<20_000).map { "line \($0) \(($0 &* 2_654_435_761) % 1_000_003)" }
      .joined(separator: "\n")
    try Data(text.utf8).write(to: plain)
    try runGzip(plain)
    let compressed = directory.appendingPathComponent("big.csv.gz")
    let bytes = try Data(contentsOf: compressed)
    try bytes.prefix(bytes.count / 2).write(to: compressed)

    let reader = try LineReader(url: compressed)
    var lines = 0
    let error = #expect(throws: ImportError.self) {
      while try reader.next() != nil { lines += 1 }
    }
    #expect(lines > 0)
    #expect(lines < 20_000)
    #expect(error?.file == compressed.path)
  }

  @Test func rowSplitIsSeededAndNearEightyTwenty() {
    // First ten rows with seed 0, from an independent implementation of the same mix.
    let expected = [
      "test", "test", "train", "train", "train", "test", "train", "test", "train", "test",
    ]
    #expect((0..<10).map { RowSplit.split(row: $0, seed: 0) } == expected)
    let testRows = (0..<9_999).filter { RowSplit.split(row: $0, seed: 0) == "test" }.count
    #expect(testRows == 1_935)
    let seededTestRows = (0..<9_999).filter { RowSplit.split(row: $0, seed: 7) == "test" }.count
    #expect(seededTestRows == 2_007)
  }

  @Test func criteoParsesTabLayout() throws {
    let fields =
      ["1", "-1", "", "3.0"] + Array(repeating: "2", count: 10)
      + ["68fd1e64", ""] + Array(repeating: "aa", count: 24)
    let line = fields.joined(separator: "\t")
    guard
      case .record(let record) = CriteoImporter.parse(
        line, row: 5, separator: "\t", seed: 0, dataset: "criteo")
    else {
      Issue.record("expected a record")
      return
    }
    #expect(record.click == 1)
    #expect(record.requestId == "r5")
    #expect(record.split == "test")
    #expect(record.time == Date(timeIntervalSince1970: 1_388_534_405))
    #expect(record.num.count == 13)
    #expect(record.num[0] == -1)
    #expect(record.num[1] == nil)
    #expect(record.num[2] == 3)
    #expect(record.cat.count == 26)
    #expect(record.cat[0] == "68fd1e64")
    #expect(record.cat[1] == nil)
    #expect(record.userId == nil)
    #expect(record.costMicros == 0)
  }

  @Test func criteoRejectsBadRows() {
    let good = ["0"] + Array(repeating: "1", count: 13) + Array(repeating: "c", count: 26)
    func reason(_ fields: [String]) -> String? {
      let outcome = CriteoImporter.parse(
        fields.joined(separator: ","), row: 0, separator: ",", seed: 0, dataset: "criteo")
      if case .rejected(let reason) = outcome { return reason }
      return nil
    }
    #expect(reason(good) == nil)
    #expect(reason(Array(good.dropLast())) == RejectReason.wrongColumnCount)
    #expect(reason([""] + good.dropFirst()) == RejectReason.missingLabel)
    #expect(reason(["2"] + good.dropFirst()) == RejectReason.invalidLabel)
    var nonNumeric = good
    nonNumeric[7] = "12a"
    #expect(reason(nonNumeric) == RejectReason.nonNumericNumber(in: "I7"))
    nonNumeric[7] = "nan"
    #expect(reason(nonNumeric) == RejectReason.nonNumericNumber(in: "I7"))
    nonNumeric[7] = "0x10"
    #expect(reason(nonNumeric) == RejectReason.nonNumericNumber(in: "I7"))
  }

  @Test func numberFieldReadsDecimalsOnly() {
    #expect(NumberField("") == .missing)
    #expect(NumberField("-1.5e2") == .value(-150))
    #expect(NumberField("+7") == .value(7))
    for text in ["0x10", "0x1p3", "inf", "nan", "1_000", " 1", "1e4e0"] {
      #expect(NumberField(Substring(text)) == .invalid, "\(text)")
    }
    // Decimal numbers beyond Double's range are numbers, only too large.
    for text in ["1e400", "-1e400", String(repeating: "9", count: 400)] {
      #expect(NumberField(Substring(text)) == .outOfRange, "\(text)")
    }
    #expect(iPinYouCostMicros("1e400").reason == RejectReason.costOutOfRange)
  }

  @Test func lineReaderDropsByteOrderMark() throws {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("bom.csv")
    // The mark is dropped from line 1 only; a later one is data.
    try Data([0xEF, 0xBB, 0xBF] + Array("click,hour\n\u{FEFF}1,2\n".utf8)).write(to: file)

    let reader = try LineReader(url: file)
    #expect(try reader.next() == "click,hour")
    #expect(try reader.next() == "\u{FEFF}1,2")
    #expect(try reader.next() == nil)
  }

  @Test func lineReaderRejectsUTF16() throws {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cases: [(name: String, mark: [UInt8], encoding: String.Encoding, order: String)] = [
      ("little.csv", [0xFF, 0xFE], .utf16LittleEndian, "UTF-16LE"),
      ("big.csv", [0xFE, 0xFF], .utf16BigEndian, "UTF-16BE"),
    ]
    for (name, mark, encoding, order) in cases {
      let file = directory.appendingPathComponent(name)
      let text = try #require("click,hour\n1,2\n".data(using: encoding))
      try Data(mark + text).write(to: file)

      let reader = try LineReader(url: file)
      let error = #expect(throws: ImportError.self) { try reader.next() }
      #expect(error?.file == file.path)
      #expect(error?.line == 1)
      #expect(error?.message == "is \(order) text (it starts with a UTF-16 byte order mark)")
    }

    // The check reads the decompressed bytes of a .gz file too.
    let plain = directory.appendingPathComponent("packed.csv")
    try Data([0xFF, 0xFE] + Array("c\0\n\0".utf8)).write(to: plain)
    try runGzip(plain)
    let reader = try LineReader(url: directory.appendingPathComponent("packed.csv.gz"))
    #expect(throws: ImportError.self) { try reader.next() }
  }

  @Test func beijingTimestampConvertsToUTC() throws {
    // 2013-06-06 07:30:00.123 in Beijing is 2013-06-05 23:30:00.123 UTC.
    let time = try #require(IPinYouLogImporter.parseBeijingTimestamp("20130606073000123"))
    #expect(time.timeIntervalSince1970 == 1_370_475_000.123)
    #expect(IPinYouLogImporter.parseBeijingTimestamp("2013060607300012") == nil)
    #expect(IPinYouLogImporter.parseBeijingTimestamp("20130230073000123") == nil)
    // Times before 1970-01-01 UTC have no day partition.
    #expect(IPinYouLogImporter.parseBeijingTimestamp("00000101000000000") == nil)
    #expect(IPinYouLogImporter.parseBeijingTimestamp("19700101075959999") == nil)
    #expect(
      IPinYouLogImporter.parseBeijingTimestamp("19700101080000000")
        == Date(timeIntervalSince1970: 0))
    #expect(IPinYouLogImporter.parseBeijingTimestamp("20130606243000123") == nil)
    #expect(IPinYouLogImporter.parseBeijingTimestamp("2013060607300012x") == nil)
    #expect(IPinYouLogImporter.parseBeijingTimestamp("20120229000000000") != nil)
  }

  @Test func daysFromCivilMatchesKnownDates() {
    #expect(daysFromCivil(year: 1970, month: 1, day: 1) == 0)
    #expect(daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
    #expect(daysFromCivil(year: 1969, month: 12, day: 31) == -1)
    for day in stride(from: -100_000, through: 100_000, by: 37) {
      let text = ImpressionWriter.isoDate(utcDay: day)
      let parts = text.split(separator: "-").compactMap { Int($0) }
      #expect(daysFromCivil(year: parts[0], month: parts[1], day: parts[2]) == day)
    }
  }

  @Test func iPinYouCTRPlacesWeekdayInReferenceWeek() {
    let columns = Array(0..<17)
    let line =
      "1,0,5,android_safari,1.2.3.*,40,53,null,d1,318719490,320,50,FirstView,Na,1-10,11908,2997"
    guard
      case .record(let record) = IPinYouCTRImporter.parse(
        line, lineNumber: 7, columns: columns, columnCount: 17, split: "test",
        dataset: "ipinyou_2997")
    else {
      Issue.record("expected a record")
      return
    }
    // Sunday 2013-10-20 05:00 Beijing = 2013-10-19T21:00:00Z.
    #expect(record.time == Date(timeIntervalSince1970: 1_382_216_400))
    #expect(record.click == 1)
    #expect(record.requestId == "test-7")
    #expect(record.adId == "11908")
    #expect(record.campaignId == "2997")
    #expect(record.cat.count == IPinYouCTRImporter.spec.categorical.count)
    #expect(record.cat[0] == "0")
    #expect(record.cat[6] == nil)  // adexchange "null"
  }

  @Test func streamRowParsesAndSkipsTest() {
    let row = IPinYouStreamImporter.parse("1458,validation,3,1000,1,87,0.25")
    #expect(
      row
        == .success(
          .init(
            advertiser: "1458", episode: 3, step: 1000, click: 1, costMicros: 870, pctr: 0.25)))
    #expect(
      IPinYouStreamImporter.parse("2997,test,1,1,0,5,0.1") == .failure(.skipped("test split")))
    #expect(
      IPinYouStreamImporter.parse("1458,validation,3,1001,1,87,0.25")
        == .failure(.rejected(RejectReason.invalidTime)))
    #expect(
      IPinYouStreamImporter.parse("1458,validation,3,1,0,abc,0.25")
        == .failure(.rejected(RejectReason.nonNumericCost)))
    // A price too large for micros used to trap on the conversion to Int64.
    let prices = [
      "-5": RejectReason.negativeCost, "99999999999999999999": RejectReason.costOutOfRange,
      "1e300": RejectReason.costOutOfRange,
    ]
    for (price, reason) in prices {
      #expect(
        IPinYouStreamImporter.parse("1458,validation,3,1,0,\(price),0.25")
          == .failure(.rejected(reason)), "\(price)")
    }
    #expect(
      IPinYouStreamImporter.parse("1458,validation,3,1,0,100000000000000,0.25")
        == .success(
          .init(
            advertiser: "1458", episode: 3, step: 1, click: 0, costMicros: 1_000_000_000_000_000,
            pctr: 0.25)))
    for pctr in ["1.5", "-0.1"] {
      #expect(
        IPinYouStreamImporter.parse("1458,validation,3,1,0,5,\(pctr)")
          == .failure(.rejected(RejectReason.invalidPCTR)), "\(pctr)")
    }
    #expect(
      IPinYouStreamImporter.parse("1458,validation,3,1,,5,0.25")
        == .failure(.rejected(RejectReason.missingLabel)))
    #expect(
      IPinYouStreamImporter.parse("1458,validation,3,1,0,5")
        == .failure(.rejected(RejectReason.wrongColumnCount)))
  }

  @Test func streamIdsMustBeCanonical() {
    // Advertiser, episode and step: digits only, no sign, no leading zero, no spaces.
    let invalid = [
      "01458,validation,3,1,0,5,0.25", "+1458,validation,3,1,0,5,0.25",
      "-1458,validation,3,1,0,5,0.25", "1458.0,validation,3,1,0,5,0.25",
      "1458,validation,+3,1,0,5,0.25", "1458,validation,03,1,0,5,0.25",
      "1458,validation,-3,1,0,5,0.25", "1458,validation, 3,1,0,5,0.25",
      "1458,validation,3e0,1,0,5,0.25", "1458,validation,3,+1,0,5,0.25",
      "1458,validation,3,001,0,5,0.25", "1458,validation,3,1 ,0,5,0.25",
      "1458,validation,3,0x1,0,5,0.25", "1458,validation,00,1,0,5,0.25",
    ]
    for line in invalid {
      #expect(
        IPinYouStreamImporter.parse(line) == .failure(.rejected(RejectReason.invalidId)), "\(line)")
    }
    for line in ["1458,validation,,1,0,5,0.25", "1458,validation,3,,0,5,0.25"] {
      #expect(
        IPinYouStreamImporter.parse(line) == .failure(.rejected(RejectReason.missingId)), "\(line)")
    }
    // Canonical numbers outside the episodes (from 1) and steps (1...1000) have no time.
    for line in [
      "1458,validation,0,1,0,5,0.25", "1458,validation,3,0,0,5,0.25",
      "1458,validation,3,1001,0,5,0.25", "1458,validation,99999999999999999999,1,0,5,0.25",
    ] {
      #expect(
        IPinYouStreamImporter.parse(line) == .failure(.rejected(RejectReason.invalidTime)),
        "\(line)")
    }
    #expect(
      IPinYouStreamImporter.parse("1458,validation,10,100,0,5,0.25")
        == .success(
          .init(advertiser: "1458", episode: 10, step: 100, click: 0, costMicros: 50, pctr: 0.25)))
  }

  @Test func streamDayStartsAtShanghaiMidnight() throws {
    let calendar = try IPinYouStreamImporter.DayCalendar()
    // 2013-06-06T00:00+08:00 = 2013-06-05T16:00:00Z; day 100 starts 99 days later.
    #expect(calendar.start(ofDay: 1) == Date(timeIntervalSince1970: 1_370_448_000))
    #expect(calendar.start(ofDay: 100) == Date(timeIntervalSince1970: 1_370_448_000 + 99 * 86_400))
  }

  @Test func campaignFilesFromTotals() throws {
    let summary = IPinYouStreamSummary(advertisers: [
      "2": .init(episodes: [5, 6, 7, 8], impressions: 4_000, clicks: 3, costMicros: 4_000_000),
      "1": .init(episodes: [1, 2], impressions: 2_000, clicks: 1, costMicros: 1_000_005),
    ])
    let files = try IPinYouCampaigns.files(
      costPerClick: ["1": 12_345.67, "2": 0.04, "3": 1], streams: summary)
    #expect(files.map(\.name) == ["ipinyou-1.json", "ipinyou-2.json", "portfolio.json"])

    let first = try #require(
      JSONSerialization.jsonObject(with: Data(files[0].json.utf8)) as? [String: Any])
    #expect(first["id"] as? String == "ipinyou-1")
    #expect(first["advertiser"] as? String == "1")
    #expect(first["dataset"] as? String == "ipinyou_rlb")
    // round(12345.67 * 10) and round(1_000_005 / 2 days), halves rounded up.
    #expect(first["value_per_click_micros"] as? Int == 123_457)
    #expect(first["daily_budget_micros"] as? Int == 500_003)
    #expect(first["time_zone"] as? String == "Asia/Shanghai")
    #expect(first["pacing"] as? String == "even")
    #expect(first["max_daily_micros"] is NSNull)

    let second = try #require(
      JSONSerialization.jsonObject(with: Data(files[1].json.utf8)) as? [String: Any])
    #expect(second["value_per_click_micros"] as? Int == 0)
    #expect(second["daily_budget_micros"] as? Int == 1_000_000)

    let portfolio = try #require(
      JSONSerialization.jsonObject(with: Data(files[2].json.utf8)) as? [String: Any])
    // (500_002.5 + 1_000_000) / 4 = 375_000.625.
    #expect(portfolio["daily_budget_micros"] as? Int == 375_001)
    #expect(portfolio["dataset"] as? String == "ipinyou_rlb")
    #expect(portfolio.count == 2)
  }

  @Test func campaignFilesNeedEveryCostPerClick() {
    let summary = IPinYouStreamSummary(advertisers: [
      "7": .init(episodes: [1], impressions: 1, clicks: 0, costMicros: 10)
    ])
    #expect(throws: ImportError.self) {
      try IPinYouCampaigns.files(costPerClick: ["1": 1], streams: summary)
    }
  }
}

/// Compresses `file` to `file.gz` with the system gzip, removing the original.
func runGzip(_ file: URL) throws {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["gzip", "-f", file.path]
  try process.run()
  process.waitUntilExit()
  #expect(process.terminationStatus == 0)
}

@Test func iPinYouSplitComesFromFileName() throws {
  let named = [
    ("ctr_train.csv", "train"),
    ("CTR_Test.csv", "test"),
    ("campaign2997_ctr_train.csv", "train"),
    ("x-test.csv", "test"),
    ("test.csv.gz", "test"),
    ("2013 10 22.TRAIN", "train"),
    // Only whole parts count, so "contestant" does not name the test split.
    ("CONTESTANT_TRAIN.csv", "train"),
    ("restraint_test.csv", "test"),
  ]
  for (name, split) in named {
    #expect(
      try IPinYouCTRImporter.splitFromName(URL(fileURLWithPath: "/d/" + name)) == split, "\(name)")
  }
  // The directory does not count, only the file's own name.
  #expect(
    try IPinYouCTRImporter.splitFromName(URL(fileURLWithPath: "/test/ctr_train.csv")) == "train")
  let unclear = [
    ("my_train_test.csv", "the file name contains both train and test"),
    ("Train-Test.csv", "the file name contains both train and test"),
    ("day1.csv", "no split (train or test) in the file name"),
    ("latest.csv", "no split (train or test) in the file name"),
    ("contest_x.csv", "no split (train or test) in the file name"),
    ("restraint.csv", "no split (train or test) in the file name"),
    ("trains_tests.csv", "no split (train or test) in the file name"),
    ("train2.csv", "no split (train or test) in the file name"),
  ]
  for (name, message) in unclear {
    let error = #expect(throws: ImportError.self) {
      try IPinYouCTRImporter.splitFromName(URL(fileURLWithPath: "/d/" + name))
    }
    #expect(error?.message == message, "\(name)")
    #expect(error?.fix == "pass --split train or --split test", "\(name)")
  }
}

@Test func dayGapFindsLongestEmptyRun() {
  #expect(DayGap.longest(in: [0, 1, 2]) == nil)
  #expect(DayGap.longest(in: [0, 8]) == nil, "7 empty days, a week, are not reported")
  #expect(
    DayGap.longest(in: [0, 9]) == DayGap(before: "1970-01-01", after: "1970-01-10", emptyDays: 8))
  #expect(
    DayGap.longest(in: [0, 9, 30, 31])
      == DayGap(before: "1970-01-10", after: "1970-01-31", emptyDays: 20))
  #expect(DayGap.longest(in: []) == nil)
}
