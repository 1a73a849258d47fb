// Tests of campaign and portfolio file parsing: every invalid case names the field, value and fix.
// Files are built in memory; nothing here reads the campaigns folder.

import Foundation
import Testing

@testable import Allocation

/// The raw JSON of each key of a valid campaign file.
private let validFields: [String: String] = [
  "id": "\"spring-sale\"",
  "name": "\"Spring sale\"",
  "advertiser": "\"1458\"",
  "dataset": "\"synthetic\"",
  "value_per_click_micros": "123450",
  "daily_budget_micros": "500",
  "min_daily_micros": "100",
  "max_daily_micros": "400",
  "lifetime_budget_micros": "null",
  "priority": "2",
  "pacing": "\"front_loaded\"",
  "time_zone": "\"Europe/Berlin\"",
  "day_parting": "{\"mon\": [9, 10, 11], \"sun\": []}",
  "flight_start": "\"2026-03-01\"",
  "flight_end": "\"2026-03-31\"",
  "targeting": "{\"region\": [\"1\", \"2\"]}",
  "status": "\"active\"",
]

private let file = "campaigns/synthetic/spring-sale.json"

/// Returns campaign JSON from `validFields` with `changes` applied (nil removes the key).
private func campaignJSON(_ changes: [String: String?] = [:]) -> Data {
  var fields = validFields
  for (key, value) in changes {
    fields[key] = value
  }
  let body = fields.keys.sorted().compactMap { key in
    fields[key].map { "\"\(key)\": \($0)" }
  }
  return Data(("{\n" + body.joined(separator: ",\n") + "\n}").utf8)
}

/// Parses and returns the error, or nil when the file parses.
private func parseError(_ data: Data) -> CampaignFileError? {
  do {
    _ = try CampaignFile.parse(data, file: file)
    return nil
  } catch {
    return error
  }
}

@Test func campaignFileParsesEveryField() throws {
  let campaign = try CampaignFile.parse(campaignJSON(), file: file)
  #expect(campaign.id == "spring-sale")
  #expect(campaign.name == "Spring sale")
  #expect(campaign.advertiser == "1458")
  #expect(campaign.dataset == "synthetic")
  #expect(campaign.valuePerClickMicros == 123_450)
  #expect(campaign.dailyBudgetMicros == 500)
  #expect(campaign.minDailyMicros == 100)
  #expect(campaign.maxDailyMicros == 400)
  #expect(campaign.lifetimeBudgetMicros == nil)
  #expect(campaign.priority == 2)
  #expect(campaign.pacing == .frontLoaded)
  #expect(campaign.timeZone.identifier == "Europe/Berlin")
  #expect(campaign.dayParting == [1: [9, 10, 11], 7: []])
  #expect(campaign.flightStart == "2026-03-01")
  #expect(campaign.flightEnd == "2026-03-31")
  #expect(campaign.targeting == ["region": ["1", "2"]])
  #expect(campaign.status == "active")
  #expect(campaign.capMicros == 400)
}

@Test func campaignFileAppliesDefaults() throws {
  let minimal = Data(
    """
    {"id": "a", "name": "A", "dataset": "d", "value_per_click_micros": 10,
     "daily_budget_micros": 0}
    """.utf8)
  let campaign = try CampaignFile.parse(minimal, file: file)
  #expect(campaign.advertiser == "")
  #expect(campaign.minDailyMicros == 0)
  #expect(campaign.maxDailyMicros == nil)
  #expect(campaign.priority == 0)
  #expect(campaign.pacing == .even)
  #expect(campaign.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: 0)) == 0)
  #expect(campaign.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: 1.8e9)) == 0)
  #expect(campaign.dayParting == nil)
  #expect(campaign.flightStart == nil)
  #expect(campaign.targeting.isEmpty)
  #expect(campaign.status == "active")
  #expect(campaign.capMicros == 0)
}

@Test func campaignFileNegativeBudgetMessage() throws {
  let error = try #require(parseError(campaignJSON(["daily_budget_micros": "-5"])))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: field 'daily_budget_micros' must be >= 0, "
      + "got -5; set a non-negative budget in micros")
  #expect(error.file == file)
  #expect(error.field == "daily_budget_micros")
  #expect(error.value == "-5")
}

/// One invalid file: the change to a valid file, and the field, value and message expected.
struct InvalidCase: Sendable, CustomStringConvertible {
  var changes: [String: String?]
  var field: String
  var value: String?
  var message: String
  var description: String { "\(field) \(message) \(value ?? "nil")" }
}

/// The message for an `id` or `dataset` that breaks the naming rule.
private let nameMessage =
  "must start with a letter or digit and use only letters, digits, '_', '.' and '-'"

private let invalidCases: [InvalidCase] = [
  // Money: negative, float, string, boolean, exponent, out of range.
  InvalidCase(
    changes: ["value_per_click_micros": "-1"], field: "value_per_click_micros",
    value: "-1", message: "must be >= 0"),
  InvalidCase(
    changes: ["min_daily_micros": "-1"], field: "min_daily_micros",
    value: "-1", message: "must be >= 0"),
  InvalidCase(
    changes: ["max_daily_micros": "-1"], field: "max_daily_micros",
    value: "-1", message: "must be >= 0"),
  InvalidCase(
    changes: ["lifetime_budget_micros": "-7"], field: "lifetime_budget_micros",
    value: "-7", message: "must be >= 0"),
  InvalidCase(
    changes: ["value_per_click_micros": "1000000000000001"], field: "value_per_click_micros",
    value: "1000000000000001", message: "must be <= 1000000000000000"),
  InvalidCase(
    changes: ["daily_budget_micros": "9223372036854775807"], field: "daily_budget_micros",
    value: "9223372036854775807", message: "must be <= 1000000000000000"),
  InvalidCase(
    changes: ["daily_budget_micros": "5.5"], field: "daily_budget_micros",
    value: "5.5", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "500.0"], field: "daily_budget_micros",
    value: "500.0", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "1e3"], field: "daily_budget_micros",
    value: "1e3", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "1e6"], field: "daily_budget_micros",
    value: "1e6", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "1E+2"], field: "daily_budget_micros",
    value: "1E+2", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "1e400"], field: "daily_budget_micros",
    value: "1e400", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "-0.0"], field: "daily_budget_micros",
    value: "-0.0", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "\"500\""], field: "daily_budget_micros",
    value: "\"500\"", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "true"], field: "daily_budget_micros",
    value: "true", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "null"], field: "daily_budget_micros",
    value: "null", message: "must be an integer"),
  InvalidCase(
    changes: ["daily_budget_micros": "99999999999999999999"],
    field: "daily_budget_micros", value: "99999999999999999999",
    message: "must be <= 1000000000000000"),
  InvalidCase(
    changes: ["daily_budget_micros": "9223372036854775808"],
    field: "daily_budget_micros", value: "9223372036854775808",
    message: "must be <= 1000000000000000"),
  InvalidCase(
    changes: ["daily_budget_micros": "-9223372036854775808"],
    field: "daily_budget_micros", value: "-9223372036854775808", message: "must be >= 0"),
  InvalidCase(
    changes: ["min_daily_micros": "-99999999999999999999"],
    field: "min_daily_micros", value: "-99999999999999999999", message: "must be >= 0"),
  // Minimum against maximum and daily budget.
  InvalidCase(
    changes: ["min_daily_micros": "450"], field: "min_daily_micros",
    value: "450", message: "must be <= max_daily_micros (400)"),
  InvalidCase(
    changes: ["min_daily_micros": "600", "max_daily_micros": "null"],
    field: "min_daily_micros", value: "600", message: "must be <= daily_budget_micros (500)"),
  // Time zone.
  InvalidCase(
    changes: ["time_zone": "\"Mars/Olympus_Mons\""], field: "time_zone",
    value: "\"Mars/Olympus_Mons\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"\""], field: "time_zone",
    value: "\"\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"GMT+5\""], field: "time_zone",
    value: "\"GMT+5\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"GMT+0500\""], field: "time_zone",
    value: "\"GMT+0500\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"BST\""], field: "time_zone",
    value: "\"BST\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"PST\""], field: "time_zone",
    value: "\"PST\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"IST\""], field: "time_zone",
    value: "\"IST\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"SystemV/EST5EDT\""], field: "time_zone",
    value: "\"SystemV/EST5EDT\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "\"US/Pacific-New\""], field: "time_zone",
    value: "\"US/Pacific-New\"", message: "is not a known IANA time zone"),
  InvalidCase(
    changes: ["time_zone": "1"], field: "time_zone",
    value: "1", message: "must be a string"),
  // Unknown and missing keys.
  InvalidCase(
    changes: ["budget": "5"], field: "budget", value: nil,
    message: "is not a campaign field"),
  InvalidCase(changes: ["id": nil], field: "id", value: nil, message: "is missing"),
  InvalidCase(changes: ["name": nil], field: "name", value: nil, message: "is missing"),
  InvalidCase(changes: ["dataset": nil], field: "dataset", value: nil, message: "is missing"),
  InvalidCase(
    changes: ["value_per_click_micros": nil], field: "value_per_click_micros",
    value: nil, message: "is missing"),
  InvalidCase(
    changes: ["daily_budget_micros": nil], field: "daily_budget_micros",
    value: nil, message: "is missing"),
  // Ids and names.
  InvalidCase(
    changes: ["id": "\"\""], field: "id", value: "\"\"",
    message: nameMessage),
  InvalidCase(
    changes: ["id": "\"spring sale\""], field: "id", value: "\"spring sale\"",
    message: nameMessage),
  InvalidCase(
    changes: ["id": "\"spring/sale\""], field: "id", value: "\"spring/sale\"",
    message: nameMessage),
  InvalidCase(
    changes: ["id": "\"früh\""], field: "id", value: "\"früh\"",
    message: nameMessage),
  InvalidCase(
    changes: ["dataset": "\"a b\""], field: "dataset", value: "\"a b\"",
    message: nameMessage),
  InvalidCase(
    changes: ["id": "\"-spring\""], field: "id", value: "\"-spring\"", message: nameMessage),
  InvalidCase(
    changes: ["id": "\".spring\""], field: "id", value: "\".spring\"", message: nameMessage),
  InvalidCase(
    changes: ["dataset": "\"_synthetic\""], field: "dataset", value: "\"_synthetic\"",
    message: nameMessage),
  InvalidCase(changes: ["id": "7"], field: "id", value: "7", message: "must be a string"),
  // Lengths: 63 characters for identifiers, 200 for the name.
  InvalidCase(
    changes: ["id": "\"\(String(repeating: "a", count: 64))\""], field: "id",
    value: "\"\(String(repeating: "a", count: 32))...\" (64 characters)",
    message: "must be at most 63 characters"),
  InvalidCase(
    changes: ["dataset": "\"\(String(repeating: "d", count: 64))\""], field: "dataset",
    value: "\"\(String(repeating: "d", count: 32))...\" (64 characters)",
    message: "must be at most 63 characters"),
  InvalidCase(
    changes: ["advertiser": "\"\(String(repeating: "é", count: 64))\""], field: "advertiser",
    value: "\"\(String(repeating: "é", count: 32))...\" (64 characters)",
    message: "must be at most 63 characters"),
  InvalidCase(
    changes: ["name": "\"\(String(repeating: "n", count: 201))\""], field: "name",
    value: "\"\(String(repeating: "n", count: 32))...\" (201 characters)",
    message: "must be at most 200 characters"),
  // U+0000, which PostgreSQL text cannot store, in any string.
  InvalidCase(
    changes: ["name": "\"Spring\\u0000sale\""], field: "name", value: "\"Spring\\u0000sale\"",
    message: "contains the character U+0000, which PostgreSQL text cannot store"),
  InvalidCase(
    changes: ["targeting": "{\"region\": [\"1\", \"\\u0000\"]}"], field: "targeting.region",
    value: "\"\\u0000\"",
    message: "contains the character U+0000, which PostgreSQL text cannot store"),
  InvalidCase(
    changes: ["targeting": "{\"reg\\u0000ion\": [\"1\"]}"], field: "targeting",
    value: "\"reg\\u0000ion\"",
    message: "contains the character U+0000, which PostgreSQL text cannot store"),
  InvalidCase(
    changes: ["name": "\"\""], field: "name", value: "\"\"",
    message: "must not be empty"),
  InvalidCase(
    changes: ["advertiser": "null"], field: "advertiser", value: "null",
    message: "must be a string"),
  // Flight dates.
  InvalidCase(
    changes: ["flight_end": "\"2026-02-28\""], field: "flight_end",
    value: "\"2026-02-28\"", message: "must not be before flight_start (2026-03-01)"),
  InvalidCase(
    changes: ["flight_start": "\"2026-02-30\""], field: "flight_start",
    value: "\"2026-02-30\"", message: "must be a date YYYY-MM-DD"),
  InvalidCase(
    changes: ["flight_start": "\"2026-3-1\""], field: "flight_start",
    value: "\"2026-3-1\"", message: "must be a date YYYY-MM-DD"),
  InvalidCase(
    changes: ["flight_end": "\"2026-04-01T00:00\""], field: "flight_end",
    value: "\"2026-04-01T00:00\"", message: "must be a date YYYY-MM-DD"),
  InvalidCase(
    changes: ["flight_end": "20260401"], field: "flight_end",
    value: "20260401", message: "must be a string"),
  // Day-parting.
  InvalidCase(
    changes: ["day_parting": "{\"monday\": [9]}"], field: "day_parting.monday",
    value: nil, message: "is not a weekday"),
  InvalidCase(
    changes: ["day_parting": "{\"mon\": [24]}"], field: "day_parting.mon",
    value: "24", message: "hours must be in 0...23"),
  InvalidCase(
    changes: ["day_parting": "{\"tue\": [-1]}"], field: "day_parting.tue",
    value: "-1", message: "hours must be in 0...23"),
  InvalidCase(
    changes: ["day_parting": "{\"wed\": [9.5]}"], field: "day_parting.wed",
    value: "9.5", message: "must be an integer"),
  InvalidCase(
    changes: ["day_parting": "{\"wed\": [\"9\"]}"], field: "day_parting.wed",
    value: "\"9\"", message: "must be an integer"),
  InvalidCase(
    changes: ["day_parting": "{\"thu\": 9}"], field: "day_parting.thu",
    value: "9", message: "must be a list of hours"),
  InvalidCase(
    changes: ["day_parting": "[9, 10]"], field: "day_parting",
    value: "[9,10]", message: "must be null or an object from weekday to hours"),
  InvalidCase(
    changes: ["day_parting": "{\"mon\": [99999999999999999999]}"], field: "day_parting.mon",
    value: "99999999999999999999", message: "hours must be in 0...23"),
  InvalidCase(
    changes: ["day_parting": "{}"], field: "day_parting",
    value: "{}", message: "lists no hour, so the campaign would never serve"),
  InvalidCase(
    changes: ["day_parting": "{\"mon\": [], \"sun\": []}"], field: "day_parting",
    value: "{\"mon\":[],\"sun\":[]}", message: "lists no hour, so the campaign would never serve"),
  // Enumerations and other types.
  InvalidCase(
    changes: ["pacing": "\"fast\""], field: "pacing", value: "\"fast\"",
    message: "must be one of even, front_loaded, asap"),
  InvalidCase(
    changes: ["pacing": "\"frontLoaded\""], field: "pacing", value: "\"frontLoaded\"",
    message: "must be one of even, front_loaded, asap"),
  InvalidCase(
    changes: ["status": "\"stopped\""], field: "status", value: "\"stopped\"",
    message: "must be \"active\" or \"paused\""),
  InvalidCase(
    changes: ["priority": "1.5"], field: "priority", value: "1.5",
    message: "must be an integer"),
  InvalidCase(
    changes: ["priority": "2147483648"], field: "priority", value: "2147483648",
    message: "must be in -2147483648...2147483647"),
  InvalidCase(
    changes: ["priority": "-2147483649"], field: "priority", value: "-2147483649",
    message: "must be in -2147483648...2147483647"),
  InvalidCase(
    changes: ["priority": "9223372036854775807"], field: "priority",
    value: "9223372036854775807", message: "must be in -2147483648...2147483647"),
  InvalidCase(
    changes: ["priority": "99999999999999999999"], field: "priority",
    value: "99999999999999999999", message: "must be in -2147483648...2147483647"),
  InvalidCase(
    changes: ["targeting": "{\"region\": [1]}"], field: "targeting.region",
    value: "[1]", message: "must be a list of strings"),
  InvalidCase(
    changes: ["targeting": "[]"], field: "targeting", value: "[]",
    message: "must be an object from field name to allowed values"),
  InvalidCase(
    changes: [
      "targeting": "{\"region\": [\"north\", \"south\", \"east\", \"west\", \"center\", 9]}"
    ],
    field: "targeting.region", value: "an array", message: "must be a list of strings"),
  InvalidCase(
    changes: ["targeting": "{\"region\": []}"], field: "targeting.region", value: "[]",
    message: "allows no value, so the campaign would get no traffic"),
  InvalidCase(
    changes: ["targeting": "{\"\": [\"x\"]}"], field: "targeting", value: "\"\"",
    message: "names an empty field"),
]

@Test(arguments: invalidCases)
func campaignFileRejectsInvalidField(_ invalid: InvalidCase) throws {
  let error = try #require(parseError(campaignJSON(invalid.changes)))
  #expect(error.file == file)
  #expect(error.field == invalid.field)
  #expect(error.value == invalid.value)
  #expect(error.message == invalid.message)
  #expect(!error.fix.isEmpty)
  #expect(error.description.hasPrefix("\(file): field '\(invalid.field)' \(invalid.message)"))
}

@Test func campaignFileUnknownFieldListsKnownFields() throws {
  let error = try #require(parseError(campaignJSON(["dailyBudget": "5"])))
  #expect(error.field == "dailyBudget")
  #expect(error.fix.contains("daily_budget_micros"))
}

@Test func campaignFileInvalidJSONPosition() throws {
  let text = "{\"id\": \"a\",\n \"name\": ,\n \"dataset\": \"d\"}"
  let error = try #require(parseError(Data(text.utf8)))
  #expect(error.field == nil)
  #expect(error.message.hasPrefix("invalid JSON at line 2, column 10 "))
  #expect(error.description.hasPrefix("\(file): invalid JSON at line 2, column "))
}

@Test func campaignFileTruncatedJSON() throws {
  let error = try #require(parseError(Data("{\"id\": \"a\"".utf8)))
  #expect(error.field == nil)
  #expect(error.message.hasPrefix("invalid JSON"))
}

@Test func campaignFileEmptyFile() throws {
  let error = try #require(parseError(Data()))
  #expect(error.message.hasPrefix("invalid JSON"))
}

@Test func campaignFileTopLevelArray() throws {
  let error = try #require(parseError(Data("[1, 2]".utf8)))
  #expect(error.message == "top level must be a JSON object")
  #expect(error.value == "[1,2]")
}

@Test func campaignFileAcceptsLargestMoney() throws {
  let campaign = try CampaignFile.parse(
    campaignJSON(["daily_budget_micros": "1000000000000000", "max_daily_micros": "null"]),
    file: file)
  #expect(campaign.dailyBudgetMicros == CampaignFile.maxMicros)
}

@Test func campaignFileBelowInt64MinMessage() throws {
  let error = try #require(
    parseError(campaignJSON(["daily_budget_micros": "-9223372036854775808"])))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: field 'daily_budget_micros' must be >= 0, "
      + "got -9223372036854775808; set a non-negative budget in micros")
}

@Test func campaignFileAboveMaxMicrosMessage() throws {
  let error = try #require(
    parseError(campaignJSON(["value_per_click_micros": "9223372036854775807"])))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: field 'value_per_click_micros' must be <= "
      + "1000000000000000, got 9223372036854775807; amounts are in micros, so 1,000,000 is one "
      + "unit of currency; the largest accepted is a billion units")
}

@Test func campaignFileExponentMessage() throws {
  let error = try #require(parseError(campaignJSON(["daily_budget_micros": "1e6"])))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: field 'daily_budget_micros' must be an integer, "
      + "got 1e6; write a whole number without quotes, decimal point or exponent")
}

@Test(arguments: [("2147483647", 2_147_483_647), ("-2147483648", -2_147_483_648), ("-0", 0)])
func campaignFilePriorityBounds(text: String, priority: Int) throws {
  let campaign = try CampaignFile.parse(campaignJSON(["priority": text]), file: file)
  #expect(campaign.priority == priority)
}

@Test func campaignFileAcceptsLongestNames() throws {
  let id = String(repeating: "i", count: 63)
  let name = String(repeating: "ñ", count: 200)
  let campaign = try CampaignFile.parse(
    campaignJSON([
      "id": "\"\(id)\"", "dataset": "\"\(id)\"", "advertiser": "\"\(id)\"",
      "name": "\"\(name)\"",
    ]), file: file)
  #expect(campaign.id == id)
  #expect(campaign.dataset == id)
  #expect(campaign.advertiser == id)
  #expect(campaign.name == name)
}

@Test func campaignFileVeryLongIdMessage() throws {
  let error = try #require(
    parseError(campaignJSON(["id": "\"\(String(repeating: "a", count: 9000))\""])))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: field 'id' must be at most 63 characters, got "
      + "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" (9000 characters); shorten it to at most 63 "
      + "characters")
}

@Test func campaignFileLongNumberMessage() throws {
  let digits = "1" + String(repeating: "0", count: 5000)
  let error = try #require(parseError(campaignJSON(["daily_budget_micros": digits])))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: field 'daily_budget_micros' must be <= "
      + "1000000000000000, got 10000000000000000000000000000000... (5001 characters); amounts "
      + "are in micros, so 1,000,000 is one unit of currency; the largest accepted is a billion "
      + "units")
}

@Test func campaignFileAcceptsDayPartingWithOneHour() throws {
  let campaign = try CampaignFile.parse(
    campaignJSON(["day_parting": "{\"mon\": [], \"sat\": [0]}"]), file: file)
  #expect(campaign.dayParting == [1: [], 6: [0]])
}

@Test func portfolioParses() throws {
  let data = Data("{\"dataset\": \"synthetic\", \"daily_budget_micros\": 5000}".utf8)
  let portfolio = try CampaignFile.parsePortfolio(data, file: "campaigns/synthetic/portfolio.json")
  #expect(portfolio == Portfolio(dataset: "synthetic", dailyBudgetMicros: 5000))
}

@Test(arguments: [
  ("{\"dataset\": \"s\", \"daily_budget_micros\": -1}", "daily_budget_micros", "must be >= 0"),
  (
    "{\"dataset\": \"s\", \"daily_budget_micros\": 1.5}", "daily_budget_micros",
    "must be an integer"
  ),
  ("{\"dataset\": \"s\"}", "daily_budget_micros", "is missing"),
  ("{\"daily_budget_micros\": 5}", "dataset", "is missing"),
  (
    "{\"dataset\": \"s\", \"daily_budget_micros\": 5, \"currency\": \"EUR\"}", "currency",
    "is not a portfolio field"
  ),
])
func portfolioRejectsInvalidField(text: String, field: String, message: String) throws {
  let name = "campaigns/s/portfolio.json"
  do {
    _ = try CampaignFile.parsePortfolio(Data(text.utf8), file: name)
    Issue.record("parsed an invalid portfolio")
  } catch {
    #expect(error.file == name)
    #expect(error.field == field)
    #expect(error.message == message)
  }
}

@Test func campaignSetRejectsDuplicateIds() throws {
  let a = try CampaignFile.parse(campaignJSON(), file: "campaigns/synthetic/a.json")
  let entries = [
    (file: "campaigns/synthetic/a.json", campaign: a),
    (file: "campaigns/synthetic/b.json", campaign: a),
  ]
  do {
    try CampaignFile.validateSet(entries)
    Issue.record("accepted duplicate ids")
  } catch {
    #expect(error.file == "campaigns/synthetic/b.json")
    #expect(error.field == "id")
    #expect(error.value == "\"spring-sale\"")
    #expect(error.message == "duplicates the id of campaigns/synthetic/a.json")
  }
}

@Test func campaignFolderMismatchMessage() throws {
  do {
    try CampaignFile.checkFolder(
      dataset: "synthetic", folder: "qq", parent: "campaigns", file: "campaigns/qq/portfolio.json")
    Issue.record("accepted a file in another data set's folder")
  } catch {
    #expect(
      error.description
        == "campaigns/qq/portfolio.json: field 'dataset' must equal the name of its folder 'qq', "
        + "got \"synthetic\"; move the file to campaigns/synthetic/, or set dataset to \"qq\"")
  }
}

@Test func campaignFolderWithInvalidNameMessage() throws {
  do {
    try CampaignFile.checkFolder(
      dataset: "synthetic", folder: "bad name", parent: "campaigns",
      file: "campaigns/bad name/portfolio.json")
    Issue.record("accepted a file in a folder with an invalid name")
  } catch {
    #expect(
      error.description
        == "campaigns/bad name/portfolio.json: field 'dataset' must equal the name of its folder "
        + "'bad name', got \"synthetic\"; move the file to campaigns/synthetic/, or rename the "
        + "folder to a valid data set name (1 to 63 letters, digits, '_', '.' and '-', starting "
        + "with a letter or digit) and set dataset to it")
  }
}

@Test(arguments: ["bad name", "", "caf\u{E9}", "-lead", String(repeating: "x", count: 64)])
func campaignFolderNameRejected(folder: String) throws {
  do {
    try CampaignFile.checkFolderName(folder, path: "campaigns/\(folder)")
    Issue.record("accepted the folder name \(folder)")
  } catch {
    #expect(
      error.description
        == "campaigns/\(folder): is not a valid data set name, which must be 1 to 63 letters, "
        + "digits, '_', '.' and '-', starting with a letter or digit; rename the folder, and set "
        + "dataset in its files to the new name")
  }
}

@Test func campaignFolderNameAccepted() throws {
  try CampaignFile.checkFolderName("ipinyou_rlb-2.0", path: "campaigns/ipinyou_rlb-2.0")
  try CampaignFile.checkFolderName(
    String(repeating: "x", count: 63), path: "campaigns/" + String(repeating: "x", count: 63))
}

@Test func campaignFileNameMatchesId() throws {
  try CampaignFile.checkFileName(
    id: "spring-sale", fileName: "spring-sale.json", file: "campaigns/synthetic/spring-sale.json")
}

@Test(arguments: [
  ("other-name.json", "rename the file to spring-sale.json, or set id to \"other-name\""),
  ("Spring-Sale.json", "rename the file to spring-sale.json, or set id to \"Spring-Sale\""),
  ("spring sale.json", "rename the file to spring-sale.json"),
])
func campaignFileNameDiffersFromId(fileName: String, fix: String) throws {
  do {
    try CampaignFile.checkFileName(
      id: "spring-sale", fileName: fileName, file: "campaigns/synthetic/\(fileName)")
    Issue.record("accepted \(fileName) for id spring-sale")
  } catch {
    #expect(error.file == "campaigns/synthetic/\(fileName)")
    #expect(error.field == "id")
    #expect(error.value == "\"spring-sale\"")
    #expect(error.message == "must equal the file's name without .json ('\(fileName.dropLast(5))')")
    #expect(error.fix == fix)
  }
}

@Test func campaignFileNameMatchesScalarByScalar() throws {
  // The Kelvin sign (U+212A) is canonically equivalent to "K" but a different file name.
  let error = try #require(
    throws: CampaignFileError.self,
    performing: {
      try CampaignFile.checkFileName(
        id: "K-1", fileName: "\u{212A}-1.json", file: "campaigns/synthetic/\u{212A}-1.json")
    })
  #expect(error.fix == "rename the file to K-1.json")
}

@Test func campaignFolderMatchesScalarByScalar() {
  // The Kelvin sign (U+212A) is canonically equivalent to "K" but a different name.
  #expect(throws: CampaignFileError.self) {
    try CampaignFile.checkFolder(
      dataset: "K", folder: "\u{212A}", parent: "campaigns", file: "campaigns/\u{212A}/a.json")
  }
  #expect(throws: CampaignFileError.self) {
    try CampaignFile.checkFolder(
      dataset: "caf\u{E9}", folder: "cafe\u{301}", parent: "campaigns",
      file: "campaigns/cafe\u{301}/a.json")
  }
}

@Test func campaignFolderMatchPasses() throws {
  try CampaignFile.checkFolder(
    dataset: "synthetic", folder: "synthetic", parent: "campaigns",
    file: "campaigns/synthetic/a.json")
}

@Test func campaignSetAcceptsUniqueIds() throws {
  let a = try CampaignFile.parse(campaignJSON(), file: "a.json")
  let b = try CampaignFile.parse(campaignJSON(["id": "\"other\""]), file: "b.json")
  try CampaignFile.validateSet([(file: "a.json", campaign: a), (file: "b.json", campaign: b)])
}

@Test func campaignFileRejectsRepeatedKey() throws {
  let text = String(decoding: campaignJSON(), as: UTF8.self)
    .replacingOccurrences(
      of: "\"daily_budget_micros\": 500",
      with:
        "\"daily_budget_micros\": 500, \"daily_budget_micros\": 900")
  let error = try #require(parseError(Data(text.utf8)))
  #expect(error.field == "daily_budget_micros")
  #expect(error.message == "appears more than once")
}

@Test func campaignFileRejectsRepeatedNestedKey() throws {
  let error = try #require(
    parseError(campaignJSON(["day_parting": "{\"mon\": [1], \"tue\": [2], \"mon\": [3]}"])))
  #expect(error.field == "day_parting.mon")
  #expect(error.message == "appears more than once")
}

@Test func campaignFileAllowsSameKeyInOtherObjects() throws {
  // "mon" in day_parting and in targeting are different objects; a quoted brace is text.
  let campaign = try CampaignFile.parse(
    campaignJSON([
      "day_parting": "{\"mon\": [1]}", "targeting": "{\"mon\": [\"{\\\"mon\\\"\"]}",
    ]), file: file)
  #expect(campaign.targeting == ["mon": ["{\"mon\""]])
}

@Test(arguments: [
  ("2026-03-08", 7), ("2026-03-09", 1), ("2026-03-10", 2), ("2024-02-29", 4), ("2000-01-01", 6),
  ("1970-01-01", 4), ("1969-12-31", 3),
])
func localDateWeekday(text: String, weekday: Int) throws {
  let date = try #require(LocalDate(text))
  #expect(date.weekday == weekday)
  #expect(date.description == text)
}

@Test(arguments: [
  "2026-02-29", "2100-02-29", "2026-04-31", "2026-00-10", "2026-13-01",
  "2026-01-00", "0000-01-01", "26-01-01", "2026/01/01", "2026-01-01 ", "",
])
func localDateRejectsInvalid(text: String) {
  #expect(LocalDate(text) == nil)
}

// -------------------------------------------------------------------------------------------------
// Syntax and encoding: the file must be strict RFC 8259 JSON in UTF-8, as PostgreSQL's jsonb
// requires.

/// A minimal valid campaign file.
private let minimalFile =
  #"{"id":"zz1","name":"n","dataset":"zz","value_per_click_micros":100000,"daily_budget_micros":1000000}"#

@Test(arguments: [
  (
    #"{"id":"zz1","name":"n","dataset":"zz","value_per_click_micros":100000,"daily_budget_micros":1000000,}"#,
    "invalid JSON at line 1, column 100 (trailing comma before '}')"
  ),
  (
    "{\"id\": \"a\",\n \"day_parting\": {\"mon\": [9, 10,]}}",
    "invalid JSON at line 2, column 31 (trailing comma before ']')"
  ),
  (
    "{\"id\": \"a\",\n \"name\": ,\n \"dataset\": \"d\"}",
    "invalid JSON at line 2, column 10 (expected a value, found ',')"
  ),
  ("", "invalid JSON at line 1, column 1 (expected a value, found end of file)"),
  ("  \n", "invalid JSON at line 2, column 1 (expected a value, found end of file)"),
  (
    "{\"id\": \"a\"",
    "invalid JSON at line 1, column 11 (expected ',' or '}' after a value, found end of file)"
  ),
  ("{\"id\": \"a", "invalid JSON at line 1, column 10 (unterminated string, found end of file)"),
  ("{\"id\" \"a\"}", "invalid JSON at line 1, column 7 (expected ':' after a key, found '\"')"),
  ("{id: \"a\"}", "invalid JSON at line 1, column 2 (expected a key in double quotes, found 'i')"),
  ("{'id': 'a'}", "invalid JSON at line 1, column 2 (expected a key in double quotes, found ''')"),
  ("{\"a\": 1} // note", "invalid JSON at line 1, column 10 (unexpected '/' after the JSON value)"),
  ("{\"a\": 1}{}", "invalid JSON at line 1, column 9 (unexpected '{' after the JSON value)"),
  ("{\"a\": 01}", "invalid JSON at line 1, column 7 (number with a leading zero)"),
  ("{\"a\": -01}", "invalid JSON at line 1, column 7 (number with a leading zero)"),
  ("{\"a\": +1}", "invalid JSON at line 1, column 7 (expected a value, found '+')"),
  ("{\"a\": .5}", "invalid JSON at line 1, column 7 (expected a value, found '.')"),
  ("{\"a\": 1.}", "invalid JSON at line 1, column 9 (expected a digit, found '}')"),
  ("{\"a\": 1e}", "invalid JSON at line 1, column 9 (expected a digit, found '}')"),
  ("{\"a\": -}", "invalid JSON at line 1, column 8 (expected a digit, found '}')"),
  ("{\"a\": NaN}", "invalid JSON at line 1, column 7 (expected a value, found 'N')"),
  ("{\"a\": Infinity}", "invalid JSON at line 1, column 7 (expected a value, found 'I')"),
  ("{\"a\": tru}", "invalid JSON at line 1, column 7 (expected a value, found 't')"),
  ("{\"a\": \"x\ty\"}", "invalid JSON at line 1, column 9 (unescaped control character U+0009)"),
  ("{\"a\": \"x\ny\"}", "invalid JSON at line 1, column 9 (unescaped control character U+000A)"),
  ("{\"a\": \"\\q\"}", "invalid JSON at line 1, column 8 (invalid escape, backslash before 'q')"),
  ("{\"a\": \"\\u12\"}", "invalid JSON at line 1, column 8 (a \\u escape needs four hex digits)"),
  ("{\"a\": \"\\ud800\"}", "invalid JSON at line 1, column 8 (unpaired surrogate in a \\u escape)"),
  (
    "{\"a\": \"\\ud800\\u0041\"}",
    "invalid JSON at line 1, column 8 (unpaired surrogate in a \\u escape)"
  ),
  ("{\"a\": \"\\udc00\"}", "invalid JSON at line 1, column 8 (unpaired surrogate in a \\u escape)"),
  ("{\"é\": ü}", "invalid JSON at line 1, column 7 (expected a value, found 'ü')"),
  ("{\"a\":\u{0B}1}", "invalid JSON at line 1, column 6 (expected a value, found U+000B)"),
  (
    String(repeating: "[", count: 33) + String(repeating: "]", count: 33),
    "invalid JSON at line 1, column 33 (nesting deeper than 32 levels)"
  ),
  (
    String(repeating: "[", count: 100_000),
    "invalid JSON at line 1, column 33 (nesting deeper than 32 levels)"
  ),
])
func campaignFileRejectsInvalidSyntax(text: String, message: String) throws {
  let error = try #require(parseError(Data(text.utf8)))
  #expect(error.file == file)
  #expect(error.field == nil)
  #expect(error.value == nil)
  #expect(error.message == message)
  #expect(error.fix == "fix the syntax so that the file holds one JSON object")
}

@Test func campaignFileTrailingCommaMessage() throws {
  var text = minimalFile
  text.insert(",", at: text.index(before: text.endIndex))
  let error = try #require(parseError(Data(text.utf8)))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: invalid JSON at line 1, column 100 (trailing "
      + "comma before '}'); fix the syntax so that the file holds one JSON object")
}

@Test func campaignFileEveryTruncationIsInvalid() throws {
  let bytes = Array(campaignJSON())
  for length in 0..<bytes.count {
    let error = try #require(parseError(Data(bytes[..<length])), "length \(length)")
    #expect(error.message.hasPrefix("invalid "), "length \(length): \(error.message)")
  }
}

@Test(arguments: [
  ("UTF-16LE", [0xFF, 0xFE] as [UInt8], String.Encoding.utf16LittleEndian),
  ("UTF-16BE", [0xFE, 0xFF], .utf16BigEndian),
  ("UTF-16LE", [], .utf16LittleEndian),
  ("UTF-16BE", [], .utf16BigEndian),
  ("UTF-32LE", [0xFF, 0xFE, 0x00, 0x00], .utf32LittleEndian),
  ("UTF-32BE", [0x00, 0x00, 0xFE, 0xFF], .utf32BigEndian),
  ("UTF-32LE", [], .utf32LittleEndian),
  ("UTF-32BE", [], .utf32BigEndian),
])
func campaignFileRejectsOtherEncodings(
  encoding: String, byteOrderMark: [UInt8], stringEncoding: String.Encoding
) throws {
  let body = try #require(minimalFile.data(using: stringEncoding))
  let error = try #require(parseError(Data(byteOrderMark) + body))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: is encoded as \(encoding), not UTF-8; save the "
      + "file as UTF-8")
}

@Test func campaignFileRejectsInvalidUTF8() throws {
  var bytes = Array("{\"id\": \"a\",\n \"name\": \"caf".utf8)
  bytes += [0xE9]  // é in Latin-1
  bytes += Array("\"}".utf8)
  let error = try #require(parseError(Data(bytes)))
  #expect(
    error.message
      == "is not valid UTF-8 text, first invalid byte 0xE9 at byte offset 25 (line 2, column 14)")
  #expect(error.fix == "save the file as UTF-8 text")
}

@Test func campaignFileInvalidUTF8OffsetCountsByteOrderMark() throws {
  let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("{\"id\": \"".utf8) + [0xC3, 0x28]
  let error = try #require(parseError(Data(bytes)))
  #expect(
    error.message
      == "is not valid UTF-8 text, first invalid byte 0xC3 at byte offset 11 (line 1, column 9)")
}

@Test func campaignFileBinaryIsNotUTF8() throws {
  // Every byte value once: 0x00 first looked like UTF-16BE, but 0x01 is no JSON character.
  let error = try #require(parseError(Data((0...255).map { UInt8($0) })))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: is not valid UTF-8 text, first invalid byte 0x80 "
      + "at byte offset 128 (line 2, column 118); save the file as UTF-8 text")
}

@Test(arguments: [
  [0x00, 0x01, 0x00, 0x02] as [UInt8], [0x01, 0x00, 0x02, 0x00], [0x00, 0x00, 0x00, 0x01],
  [0x01, 0x00, 0x00, 0x00], [0x00, 0x00, 0x00, 0x00], [0x00, 0x7B, 0x7B, 0x00], [0x00],
  [0x7B, 0x00, 0x00],
])
func campaignFileZeroBytesWithoutPatternAreNotUTF16(bytes: [UInt8]) throws {
  #expect(JSONParser.otherEncoding(of: bytes) == nil)
  let error = try #require(parseError(Data(bytes)))
  #expect(error.message.hasPrefix("invalid JSON at line 1, column "), "\(error.message)")
}

@Test(arguments: [
  ([0x00, 0x7B] as [UInt8], "UTF-16BE"), ([0x7B, 0x00], "UTF-16LE"),
  ([0x00, 0x20, 0x00, 0x7B], "UTF-16BE"), ([0x0A, 0x00, 0x7B, 0x00], "UTF-16LE"),
  ([0x00, 0x00, 0x00, 0x7B], "UTF-32BE"), ([0x7B, 0x00, 0x00, 0x00], "UTF-32LE"),
  ([0xFE, 0xFF, 0x01, 0x02], "UTF-16BE"), ([0xFF, 0xFE, 0xFF, 0xFF], "UTF-16LE"),
])
func campaignFileZeroBytePatternNamesEncoding(bytes: [UInt8], encoding: String) throws {
  let error = try #require(parseError(Data(bytes)))
  #expect(error.message == "is encoded as \(encoding), not UTF-8")
}

@Test func campaignFileSkipsUTF8ByteOrderMark() throws {
  let campaign = try CampaignFile.parse(
    Data([0xEF, 0xBB, 0xBF]) + Data(minimalFile.utf8), file: file)
  #expect(campaign.id == "zz1")
}

@Test func campaignFileNULEscapeMessage() throws {
  let text = minimalFile.replacingOccurrences(of: #""name":"n""#, with: #""name":"n\u0000x""#)
  let error = try #require(parseError(Data(text.utf8)))
  #expect(
    error.description
      == "campaigns/synthetic/spring-sale.json: field 'name' contains the character U+0000, "
      + "which PostgreSQL text cannot store, got \"n\\u0000x\"; remove the \\u0000 escape")
}

@Test func campaignFileRejectsKeyRepeatedThroughEscape() throws {
  let text = minimalFile.replacingOccurrences(
    of: #""name":"n""#, with: #""name":"n","n\u0061me":"m""#)
  let error = try #require(parseError(Data(text.utf8)))
  #expect(error.field == "name")
  #expect(error.message == "appears more than once")
}

@Test func campaignFileDecodesEscapes() throws {
  let text = minimalFile.replacingOccurrences(
    of: #""name":"n""#, with: #""name":"\"q\" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \u001f""#)
  let campaign = try CampaignFile.parse(Data(text.utf8), file: file)
  #expect(campaign.name == "\"q\" \\ / \u{8}\u{C}\n\r\t é 😀 \u{1F}")
}

// -------------------------------------------------------------------------------------------------
// The compact JSON that `campaigns sync` stores.

@Test func campaignDefinitionIsCompactJSON() throws {
  let text =
    "\u{FEFF}{\n  \"id\": \"zz1\",\n  \"name\": \"caf\\u00e9 \\/ \\\"x\\\"\\t\\u0001\",\n"
    + "  \"dataset\": \"zz\", \"value_per_click_micros\": 100000,\n"
    + "  \"daily_budget_micros\": 1000000, \"day_parting\": {\"mon\": [ 9 , 10 ]},\n"
    + "  \"targeting\": {}, \"max_daily_micros\": null\n}\n"
  let (campaign, json) = try CampaignFile.parseDefinition(Data(text.utf8), file: file)
  #expect(
    json
      == #"{"id":"zz1","name":"café / \"x\"\t\u0001","dataset":"zz","value_per_click_micros":100000,"#
      + #""daily_budget_micros":1000000,"day_parting":{"mon":[9,10]},"targeting":{},"#
      + #""max_daily_micros":null}"#)
  #expect(try CampaignFile.parse(Data(json.utf8), file: file) == campaign)
}

@Test func campaignDefinitionMatchesFoundationParse() throws {
  // JSONSerialization is the reference reader: the stored text must hold the file's values.
  let original = campaignJSON([
    "name": #""Spring \"sale\" \\ \u00fc \ud83d\ude00 \u0007""#,
    "targeting": #"{"region": ["1", "\/2"], "city": ["x\ny"]}"#,
  ])
  let (_, json) = try CampaignFile.parseDefinition(original, file: file)
  let expected = try JSONSerialization.jsonObject(with: original) as? NSDictionary
  let stored = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary
  #expect(expected != nil)
  #expect(stored == expected)
}

@Test(arguments: ["EST", "CET", "GMT", "UTC", "US/Pacific", "Asia/Calcutta", "Etc/GMT+5"])
func campaignFileAcceptsIANAZoneName(_ name: String) throws {
  let campaign = try CampaignFile.parse(campaignJSON(["time_zone": "\"\(name)\""]), file: file)
  #expect(campaign.timeZone.identifier == (name == "UTC" ? "GMT" : name))
}
