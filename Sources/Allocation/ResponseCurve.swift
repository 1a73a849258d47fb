// A campaign's response curve: expected value against spend when it buys its traffic best-first.
// Pieces are sorted by value per micro, so the curve is concave and piecewise linear.

/// A concave piecewise-linear curve of expected value (micros) against spend (micros).
struct ResponseCurve: Sendable {
  /// One linear piece: a supply segment scaled to the active hours.
  struct Piece: Sendable {
    /// The segment's index in `CampaignSupply.segments`.
    var segment: Int
    var costMicros: Double
    var valueMicros: Double
    var clicks: Double
    var impressions: Double

    /// Value per micro of spend: the slope of the piece.
    var slope: Double { valueMicros / costMicros }
    /// The band's pCTR (clicks per impression), 0 for a band without impressions.
    var pctr: Double { impressions > 0 ? clicks / impressions : 0 }
  }

  /// A purchase: the value, clicks and impressions that a spend buys on the curve.
  struct Purchase: Sendable {
    var valueMicros = 0.0
    var clicks = 0.0
    var impressions = 0.0
    /// The slope of the piece the next micro would buy, 0 when the curve is used up.
    var marginalValue = 0.0
    /// The index in `pieces` of the last piece the spend reaches, nil for no spend.
    var lastPiece: Int?
  }

  /// The pieces, by slope descending and then segment order.
  var pieces: [Piece]

  /// Creates a curve from pieces already in slope order.
  init(pieces: [Piece]) {
    self.pieces = pieces
  }

  /// Builds the curve of `segments` at `valuePerClickMicros`, each segment scaled by `scale`.
  /// Segments with no cost cannot absorb spend and are left out.
  init(segments: [SupplySegment], valuePerClickMicros: Int64, scale: Double = 1) {
    var pieces: [Piece] = []
    for (index, segment) in segments.enumerated() where segment.costMicros * scale > 0 {
      pieces.append(
        Piece(
          segment: index,
          costMicros: segment.costMicros * scale,
          valueMicros: segment.clicks * scale * Double(valuePerClickMicros),
          clicks: segment.clicks * scale,
          impressions: segment.impressions * scale))
    }
    pieces.sort { a, b in
      a.slope != b.slope ? a.slope > b.slope : a.segment < b.segment
    }
    self.pieces = pieces
  }

  /// Returns the curve with every piece's cost, value, clicks and impressions times `factor`
  /// (> 0), which keeps the order of the pieces.
  func scaled(by factor: Double) -> ResponseCurve {
    var copy = self
    for index in copy.pieces.indices {
      copy.pieces[index].costMicros *= factor
      copy.pieces[index].valueMicros *= factor
      copy.pieces[index].clicks *= factor
      copy.pieces[index].impressions *= factor
    }
    return copy
  }

  /// The cost of buying every piece, in micros.
  var totalCostMicros: Double { pieces.reduce(0) { $0 + $1.costMicros } }

  /// The slope of the best piece, or -1 for an empty curve so that it ranks last.
  var bestSlope: Double { pieces.first?.slope ?? -1 }

  /// Walks the curve best-first with `spendMicros` and returns what it buys.
  func purchase(_ spendMicros: Double) -> Purchase {
    var result = Purchase()
    var left = spendMicros
    for (index, piece) in pieces.enumerated() {
      if left <= 0 {
        result.marginalValue = piece.slope
        return result
      }
      let fraction = min(1, left / piece.costMicros)
      result.valueMicros += piece.valueMicros * fraction
      result.clicks += piece.clicks * fraction
      result.impressions += piece.impressions * fraction
      result.lastPiece = index
      left -= piece.costMicros
      if fraction < 1 {
        result.marginalValue = piece.slope
        return result
      }
    }
    return result
  }
}
