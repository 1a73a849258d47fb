import Testing

@testable import Allocation

@Test func moduleLoads() {
  #expect(Bool(true))
}
