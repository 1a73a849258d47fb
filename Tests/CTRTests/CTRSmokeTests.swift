import Testing

@testable import CTR

@Test func moduleLoads() {
  #expect(Bool(true))
}
