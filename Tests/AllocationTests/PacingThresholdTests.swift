// Tests of the value-per-micro threshold of an hourly plan row: where a spend cuts a response
// curve whose pieces have slopes 4 and 1, so their band edges sit at 8, 2 and 0.5.

import Foundation
import Testing

@testable import Allocation

/// Two pieces of 100 micros each, with value per micro 4 and 1 at 100 micros per click.
private let twoPieces = ResponseCurve(
  segments: [
    SupplySegment(impressions: 10, costMicros: 100, clicks: 4),
    SupplySegment(impressions: 10, costMicros: 100, clicks: 1),
  ], valuePerClickMicros: 100)

@Test(arguments: [
  (0.0, Double.infinity),
  (50.0, 4.0),
  (100.0, 2.0),
  (150.0, 1.0),
  (200.0, 0.0),
  (500.0, 0.0),
])
func cutSlopeFollowsBandEdges(spend: Double, expected: Double) {
  let threshold = PacingPlanner.cutSlope(twoPieces, spendMicros: spend)
  if expected.isInfinite || expected == 0 {
    #expect(threshold == expected)
  } else {
    #expect(abs(threshold - expected) < 1e-9, "spend \(spend): \(threshold)")
  }
}

@Test func cutSlopeOfSinglePieceUsesItsSlope() {
  let single = ResponseCurve(
    segments: [SupplySegment(impressions: 10, costMicros: 100, clicks: 3)],
    valuePerClickMicros: 100)
  #expect(abs(PacingPlanner.cutSlope(single, spendMicros: 40) - 3) < 1e-9)
  #expect(PacingPlanner.cutSlope(single, spendMicros: 100) == 0)
}

@Test func planRowsCarryThreshold() throws {
  var campaign = makeCampaign("p")
  campaign.valuePerClickMicros = 100
  let supply = CampaignSupply(
    campaignId: "p",
    segments: [
      SupplySegment(impressions: 2400, costMicros: 2400, clicks: 96),
      SupplySegment(impressions: 2400, costMicros: 2400, clicks: 24),
    ])
  let allocation = CampaignAllocation(
    campaignId: "p", amountMicros: 1200, capMicros: campaign.capMicros, expectedValueMicros: 0,
    expectedClicks: 0, expectedImpressions: 0, rank: 1, marginalValue: 0, binding: .budget)
  let rows = try PacingPlanner.plan(
    campaign: campaign, allocation: allocation, supply: supply, planDate: "2026-03-10")
  // Each hour spends 50 of its 100-micro first piece, which cuts at that piece's own slope, 4.
  #expect(rows.count == 24)
  for row in rows {
    #expect(row.spendMicros == 50)
    #expect(abs(row.valuePerMicroThreshold - 4) < 1e-9)
  }
}
