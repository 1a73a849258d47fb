// Strict parsing and validation of campaign and portfolio JSON files.
// The caller reads the bytes; this file never opens files and accepts no unknown keys.

import Foundation

/// A parser and validator of campaign files and portfolio files.
///
/// A campaign file contains one JSON object with snake_case keys, in UTF-8 and strict RFC 8259
/// syntax (see `JSONParser`). `id`, `name`, `dataset`, `value_per_click_micros` and
/// `daily_budget_micros` are required; every other key has a default (see `Campaign.init`).
/// Unknown keys, wrong JSON types, money written as floats or strings, and out-of-range values
/// are rejected with a `CampaignFileError` naming the file, the field, the value and the fix.
/// A key written twice in one object and a string containing U+0000 are rejected too.
public enum CampaignFile {
  /// The keys of a campaign file, in the order the documentation lists them.
  public static let campaignKeys = [
    "id", "name", "advertiser", "dataset", "value_per_click_micros", "daily_budget_micros",
    "min_daily_micros", "max_daily_micros", "lifetime_budget_micros", "priority", "pacing",
    "time_zone", "day_parting", "flight_start", "flight_end", "targeting", "status",
  ]

  /// The keys of a portfolio file.
  public static let portfolioKeys = ["dataset", "daily_budget_micros"]

  /// The weekday keys of `day_parting`, Monday first; Campaign stores them as 1...7.
  public static let weekdayKeys = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

  /// The largest amount of money a campaign file accepts: a billion units of currency. A sum of
  /// such amounts over 9,000 campaigns still fits in Int64.
  public static let maxMicros: Int64 = 1_000_000_000_000_000

  /// The maximum length of `id`, `dataset` and `advertiser`, in characters. It is PostgreSQL's
  /// identifier length and the limit of the tool's `--dataset` option, and it keeps ids far below
  /// the size limit of a btree index entry.
  public static let maxIdentifierLength = 63

  /// The maximum length of a campaign's `name`, in characters (Unicode scalars).
  public static let maxNameLength = 200

  /// The range of `priority`: that of the 32-bit `integer` column `adpilot.campaigns.priority`.
  public static let priorityRange = Int64(Int32.min)...Int64(Int32.max)

  /// Parses and validates one campaign file.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - file: the file's name for error messages, such as `campaigns/synthetic/a.json`.
  public static func parse(_ data: Data, file: String) throws(CampaignFileError) -> Campaign {
    try parseDefinition(data, file: file).campaign
  }

  /// Parses and validates one campaign file, and returns the campaign with the file's object as
  /// compact JSON: the same keys in the same order with the same values, without the file's
  /// whitespace, escapes and byte order mark. `campaigns sync` stores that text.
  public static func parseDefinition(_ data: Data, file: String) throws(CampaignFileError)
    -> (campaign: Campaign, json: String)
  {
    let fields = try JSONFields(data: data, file: file)
    try fields.rejectUnknownKeys(campaignKeys, kind: "campaign")
    try fields.require("id", as: "a string")
    try fields.require("name", as: "a string")
    try fields.require("dataset", as: "a string")
    try fields.require("value_per_click_micros", as: "an integer number of micros")
    try fields.require("daily_budget_micros", as: "an integer number of micros")

    let campaign = Campaign(
      id: try fields.string("id"),
      name: try fields.string("name"),
      advertiser: try fields.string("advertiser"),
      dataset: try fields.string("dataset"),
      valuePerClickMicros: try money(
        fields, "value_per_click_micros", fix: "set a non-negative value"),
      dailyBudgetMicros: try money(
        fields, "daily_budget_micros", fix: "set a non-negative budget in micros"),
      minDailyMicros: try money(
        fields, "min_daily_micros", fix: "set a non-negative minimum, or 0"),
      maxDailyMicros: try optionalMoney(
        fields, "max_daily_micros", fix: "set a non-negative maximum, or null"),
      lifetimeBudgetMicros: try optionalMoney(
        fields, "lifetime_budget_micros", fix: "set a non-negative value"),
      priority: try priority(fields),
      pacing: try pacing(fields),
      timeZone: try timeZone(fields),
      dayParting: try dayParting(fields),
      flightStart: try fields.optionalString("flight_start"),
      flightEnd: try fields.optionalString("flight_end"),
      targeting: try targeting(fields),
      status: try fields.string("status", fallback: "active"))
    try validate(campaign, file: file)
    return (campaign, JSONValue.object(fields.object).serialized())
  }

  /// Parses and validates a portfolio file: `{"dataset": "...", "daily_budget_micros": N}`.
  public static func parsePortfolio(_ data: Data, file: String) throws(CampaignFileError)
    -> Portfolio
  {
    let fields = try JSONFields(data: data, file: file)
    try fields.rejectUnknownKeys(portfolioKeys, kind: "portfolio")
    try fields.require("dataset", as: "a string")
    try fields.require("daily_budget_micros", as: "an integer number of micros")
    let portfolio = Portfolio(
      dataset: try fields.string("dataset"),
      dailyBudgetMicros: try money(
        fields, "daily_budget_micros", fix: "set a non-negative budget in micros"))
    try checkName(portfolio.dataset, field: "dataset", file: file)
    return portfolio
  }

  /// Validates a set of parsed campaigns: every id unique across files.
  ///
  /// - Throws: `CampaignFileError` on the later file of a duplicate pair, naming the earlier one.
  public static func validateSet(_ entries: [(file: String, campaign: Campaign)])
    throws(CampaignFileError)
  {
    var firstFile: [String: String] = [:]
    for entry in entries {
      let id = entry.campaign.id
      if let earlier = firstFile[id] {
        throw CampaignFileError(
          file: entry.file, field: "id", value: CampaignFileError.quoted(id),
          message: "duplicates the id of \(earlier)",
          fix: "give each campaign a unique id, or remove one of the two files")
      }
      firstFile[id] = entry.file
    }
  }

  /// Checks that the `dataset` of a campaign or portfolio file equals the name of its folder.
  ///
  /// - Parameters:
  ///   - dataset: the file's `dataset` value.
  ///   - folder: the name of the folder that contains the file.
  ///   - parent: the folder's parent as the user names it, such as `campaigns`, for the fix.
  ///   - file: the file's name for the error message.
  public static func checkFolder(
    dataset: String, folder: String, parent: String, file: String
  ) throws(CampaignFileError) {
    // Scalar by scalar, as PostgreSQL compares text: Swift's == would let a folder named with
    // the Kelvin sign pass for one named "K", and the two are different data sets there.
    guard !dataset.unicodeScalars.elementsEqual(folder.unicodeScalars) else { return }
    // Setting dataset to a folder name that breaks the name rule would only trade this error for
    // another, so such a folder has to be renamed.
    let otherFix =
      isValidName(folder)
      ? "set dataset to \"\(folder)\""
      : "rename the folder to a valid data set name (\(nameRule)) and set dataset to it"
    throw CampaignFileError(
      file: file, field: "dataset", value: CampaignFileError.quoted(dataset),
      message: "must equal the name of its folder '\(folder)'",
      fix: "move the file to \(parent)/\(dataset)/, or \(otherFix)")
  }

  /// Checks that a campaign file's name without `.json` equals its `id`, so that each campaign is
  /// found at `<data set>/<id>.json`.
  ///
  /// - Parameters:
  ///   - id: the file's `id` value.
  ///   - fileName: the file's name in its folder, such as `spring-sale.json`.
  ///   - file: the file's name for the error message.
  public static func checkFileName(id: String, fileName: String, file: String)
    throws(CampaignFileError)
  {
    let stem = fileName.hasSuffix(".json") ? String(fileName.dropLast(5)) : fileName
    // Scalar by scalar, as PostgreSQL compares text, like checkFolder.
    guard !id.unicodeScalars.elementsEqual(stem.unicodeScalars) else { return }
    // A file name that breaks the rule for ids cannot become the id, so then only a rename fixes it.
    let otherFix = isValidName(stem) ? ", or set id to \"\(stem)\"" : ""
    throw CampaignFileError(
      file: file, field: "id", value: CampaignFileError.quoted(id),
      message: "must equal the file's name without .json ('\(stem)')",
      fix: "rename the file to \(id).json\(otherFix)")
  }

  /// Checks that the name of a data-set folder is a valid data set name. The `dataset` of each
  /// file in the folder must equal that name, so no file in a folder named otherwise is valid.
  ///
  /// - Parameter path: the folder as the user names it, such as `campaigns/spring sale`.
  public static func checkFolderName(_ folder: String, path: String) throws(CampaignFileError) {
    guard !isValidName(folder) else { return }
    throw CampaignFileError(
      file: path, field: nil, value: nil,
      message: "is not a valid data set name, which must be \(nameRule)",
      fix: "rename the folder, and set dataset in its files to the new name")
  }

  // ---------------------------------------------------------------------------------------------

  /// Reads an amount of money in 0...maxMicros, or 0 when the key is absent.
  static func money(_ fields: JSONFields, _ key: String, fix: String) throws(CampaignFileError)
    -> Int64
  {
    try optionalMoney(fields, key, fix: fix, allowsNull: false) ?? 0
  }

  /// Reads an amount of money in 0...maxMicros, or nil when the key is absent or, if
  /// `allowsNull`, null.
  static func optionalMoney(
    _ fields: JSONFields, _ key: String, fix: String, allowsNull: Bool = true
  ) throws(CampaignFileError) -> Int64? {
    guard let value = fields.object[key] else { return nil }
    if allowsNull, case .null = value { return nil }
    let micros = try JSONFields.integer(value, file: fields.file, field: key)
    if micros < 0 {
      throw CampaignFileError(
        file: fields.file, field: key, value: JSONFields.render(value), message: "must be >= 0",
        fix: fix)
    }
    if micros > maxMicros {
      throw CampaignFileError(
        file: fields.file, field: key, value: JSONFields.render(value),
        message: "must be <= \(maxMicros)",
        fix: "amounts are in micros, so 1,000,000 is one unit of currency; the largest accepted "
          + "is a billion units")
    }
    return micros
  }

  static func priority(_ fields: JSONFields) throws(CampaignFileError) -> Int {
    guard let value = fields.object["priority"] else { return 0 }
    let priority = try JSONFields.integer(value, file: fields.file, field: "priority")
    guard priorityRange.contains(priority) else {
      throw CampaignFileError(
        file: fields.file, field: "priority", value: JSONFields.render(value),
        message: "must be in \(priorityRange.lowerBound)...\(priorityRange.upperBound)",
        fix: "use a small integer; larger values are served first")
    }
    return Int(priority)
  }

  static func pacing(_ fields: JSONFields) throws(CampaignFileError) -> PacingMode {
    let text = try fields.string("pacing", fallback: PacingMode.even.rawValue)
    guard let mode = PacingMode(rawValue: text) else {
      throw CampaignFileError(
        file: fields.file, field: "pacing", value: CampaignFileError.quoted(text),
        message: "must be one of even, front_loaded, asap",
        fix: "use \"even\" to follow traffic, \"front_loaded\" or \"asap\" to spend early")
    }
    return mode
  }

  /// Zone names that TimeZone(identifier:) accepts on Linux (Swift 6.3) but the IANA tz
  /// database does not have: three-letter ids and two links that tz releases have dropped. They
  /// look like abbreviations, yet each names one zone, often not the expected one: "BST" is
  /// Asia/Dhaka, "IST" Asia/Kolkata and "AST" America/Anchorage. The IANA zones EST, MST, HST,
  /// CET, EET, MET and WET stay valid. Ids starting with "SystemV/" are rejected too.
  static let nonIANAZoneNames: Set<String> = [
    "ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CNT", "CST", "CTT", "EAT", "ECT",
    "IET", "IST", "JST", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "PST", "SST", "VST",
    "US/Pacific-New", "Canada/East-Saskatchewan",
  ]

  static func timeZone(_ fields: JSONFields) throws(CampaignFileError) -> TimeZone {
    guard fields.object["time_zone"] != nil else { return .utc }
    let name = try fields.string("time_zone")
    // TimeZone(identifier:) also accepts offsets such as "GMT+5" (renamed "GMT+0500"), which
    // PostgreSQL rejects, so offset forms are refused and a name must resolve to itself.
    let offsetForm = ["GMT+", "GMT-", "UTC+", "UTC-"].contains { name.hasPrefix($0) }
    guard !offsetForm, !nonIANAZoneNames.contains(name), !name.hasPrefix("SystemV/"),
      let zone = TimeZone(identifier: name),
      name == "UTC" || zone.identifier == name
    else {
      throw CampaignFileError(
        file: fields.file, field: "time_zone", value: CampaignFileError.quoted(name),
        message: "is not a known IANA time zone",
        fix: "use an IANA time zone name such as \"America/New_York\" or \"UTC\"")
    }
    return zone
  }

  /// Reads `day_parting`: null, or an object from "mon"..."sun" to lists of hours 0...23 that
  /// contains at least one hour.
  static func dayParting(_ fields: JSONFields) throws(CampaignFileError) -> [Int: Set<Int>]? {
    let file = fields.file
    guard !fields.isAbsentOrNull("day_parting"), let value = fields.object["day_parting"] else {
      return nil
    }
    guard case .object(let object) = value else {
      throw fields.typeError(
        "day_parting", value, expected: "null or an object from weekday to hours",
        fix: "write e.g. {\"mon\": [9, 10, 11]}, or null for every hour of every day")
    }
    var parting: [Int: Set<Int>] = [:]
    for key in object.keys.sorted() {
      let field = "day_parting.\(key)"
      guard let weekday = weekdayKeys.firstIndex(of: key), let list = object[key] else {
        throw CampaignFileError(
          file: file, field: field, value: nil, message: "is not a weekday",
          fix: "use the keys \(weekdayKeys.joined(separator: ", "))")
      }
      guard case .array(let hours) = list else {
        throw fields.typeError(
          field, list, expected: "a list of hours", fix: "write the local hours as [0, 1, ...]")
      }
      var set = Set<Int>()
      for hourValue in hours {
        let hour = try JSONFields.integer(hourValue, file: file, field: field)
        guard (0...23).contains(hour) else {
          throw CampaignFileError(
            file: file, field: field, value: JSONFields.render(hourValue),
            message: "hours must be in 0...23",
            fix: "list local hours of day from 0 (midnight) to 23")
        }
        set.insert(Int(hour))
      }
      parting[weekday + 1] = set
    }
    // A weekday left out has no active hour, so a schedule without any hour never serves.
    if parting.values.allSatisfy(\.isEmpty) {
      throw CampaignFileError(
        file: file, field: "day_parting", value: JSONFields.render(value),
        message: "lists no hour, so the campaign would never serve",
        fix: "list the local hours of at least one weekday, or set day_parting to null to serve "
          + "at every hour")
    }
    return parting
  }

  /// Reads `targeting`: an object from impression field name to a list of allowed strings.
  static func targeting(_ fields: JSONFields) throws(CampaignFileError) -> [String: [String]] {
    guard let value = fields.object["targeting"] else { return [:] }
    guard case .object(let object) = value else {
      throw fields.typeError(
        "targeting", value, expected: "an object from field name to allowed values",
        fix: "write e.g. {\"region\": [\"1\", \"2\"]}, or {} for all traffic")
    }
    var targeting: [String: [String]] = [:]
    for key in object.keys {
      let list = object[key] ?? .null
      guard case .array(let elements) = list, let strings = strings(elements) else {
        throw fields.typeError(
          "targeting.\(key)", list, expected: "a list of strings",
          fix: "write the allowed values in double quotes, e.g. [\"1\", \"2\"]")
      }
      guard !key.isEmpty else {
        throw CampaignFileError(
          file: fields.file, field: "targeting", value: "\"\"", message: "names an empty field",
          fix: "use the name of an impression field, e.g. \"region\"")
      }
      guard !strings.isEmpty else {
        throw CampaignFileError(
          file: fields.file, field: "targeting.\(key)", value: "[]",
          message: "allows no value, so the campaign would get no traffic",
          fix: "list the allowed values, or remove \"\(key)\" to allow every value")
      }
      targeting[key] = strings
    }
    return targeting
  }

  /// Returns the texts of `elements` when every element is a string, else nil.
  static func strings(_ elements: [JSONValue]) -> [String]? {
    var strings: [String] = []
    for element in elements {
      guard case .string(let string) = element else { return nil }
      strings.append(string)
    }
    return strings
  }

  /// Checks the value rules that span fields or concern text: names and their lengths, minimum
  /// against maximum and daily budget, status and flight.
  static func validate(_ campaign: Campaign, file: String) throws(CampaignFileError) {
    try checkName(campaign.id, field: "id", file: file)
    try checkName(campaign.dataset, field: "dataset", file: file)
    if campaign.name.isEmpty {
      throw CampaignFileError(
        file: file, field: "name", value: "\"\"", message: "must not be empty",
        fix: "give the campaign a readable name")
    }
    try checkLength(campaign.name, field: "name", maximum: maxNameLength, file: file)
    try checkLength(
      campaign.advertiser, field: "advertiser", maximum: maxIdentifierLength, file: file)
    if let maximum = campaign.maxDailyMicros, campaign.minDailyMicros > maximum {
      throw CampaignFileError(
        file: file, field: "min_daily_micros", value: String(campaign.minDailyMicros),
        message: "must be <= max_daily_micros (\(maximum))",
        fix: "lower min_daily_micros or raise max_daily_micros")
    }
    if campaign.minDailyMicros > campaign.dailyBudgetMicros {
      throw CampaignFileError(
        file: file, field: "min_daily_micros", value: String(campaign.minDailyMicros),
        message: "must be <= daily_budget_micros (\(campaign.dailyBudgetMicros))",
        fix: "lower min_daily_micros or raise daily_budget_micros")
    }
    if !["active", "paused"].contains(campaign.status) {
      throw CampaignFileError(
        file: file, field: "status", value: CampaignFileError.quoted(campaign.status),
        message: "must be \"active\" or \"paused\"", fix: "set status to \"active\" or \"paused\"")
    }
    try checkFlight(campaign, file: file)
  }

  static func checkFlight(_ campaign: Campaign, file: String) throws(CampaignFileError) {
    var dates: [String: LocalDate] = [:]
    for (field, text) in [
      ("flight_start", campaign.flightStart), ("flight_end", campaign.flightEnd),
    ] {
      guard let text else { continue }
      guard let date = LocalDate(text) else {
        throw CampaignFileError(
          file: file, field: field, value: CampaignFileError.quoted(text),
          message: "must be a date YYYY-MM-DD",
          fix: "write a calendar date such as \"2026-03-08\", or null")
      }
      dates[field] = date
    }
    if let start = dates["flight_start"], let end = dates["flight_end"], end < start {
      throw CampaignFileError(
        file: file, field: "flight_end", value: "\"\(end)\"",
        message: "must not be before flight_start (\(start))",
        fix: "set flight_end on or after flight_start")
    }
  }

  /// The rule for `id` and `dataset` values, in the words of error messages.
  static let nameRule =
    "1 to \(maxIdentifierLength) letters, digits, '_', '.' and '-', starting with a letter or digit"

  /// Returns whether `name` is a valid `id` or `dataset`: 1 to `maxIdentifierLength` ASCII
  /// letters, digits, `_`, `.` and `-`, starting with a letter or digit, so that a name never
  /// reads as a command-line option or names a hidden file.
  public static func isValidName(_ name: String) -> Bool {
    name.unicodeScalars.count <= maxIdentifierLength && usesNameCharacters(name)
  }

  /// Returns whether `name` is non-empty, starts with an ASCII letter or digit and has only
  /// those, `_`, `.` and `-` after it.
  static func usesNameCharacters(_ name: String) -> Bool {
    func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
      ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
    guard let first = name.unicodeScalars.first, isAlphanumeric(first) else { return false }
    return name.unicodeScalars.allSatisfy {
      isAlphanumeric($0) || "_.-".unicodeScalars.contains($0)
    }
  }

  /// Checks an identifier: 1 to `maxIdentifierLength` letters, digits, `_`, `.` and `-`,
  /// starting with a letter or digit.
  static func checkName(_ name: String, field: String, file: String) throws(CampaignFileError) {
    try checkLength(name, field: field, maximum: maxIdentifierLength, file: file)
    guard usesNameCharacters(name) else {
      throw CampaignFileError(
        file: file, field: field, value: CampaignFileError.quoted(name),
        message: "must start with a letter or digit and use only letters, digits, '_', '.' and '-'",
        fix: "rename it, e.g. \"spring-sale_2026\"")
    }
  }

  /// Checks that a string has at most `maximum` Unicode scalars.
  static func checkLength(_ text: String, field: String, maximum: Int, file: String)
    throws(CampaignFileError)
  {
    let length = text.unicodeScalars.count
    guard length > maximum else { return }
    throw CampaignFileError(
      file: file, field: field, value: CampaignFileError.quoted(text),
      message: "must be at most \(maximum) characters",
      fix: "shorten it to at most \(maximum) characters")
  }
}
