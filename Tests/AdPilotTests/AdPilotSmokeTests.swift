import Testing

@testable import AdPilot

@Test func moduleLoads() {
  #expect(Bool(true))
}
