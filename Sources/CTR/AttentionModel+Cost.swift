// The arithmetic of the attention model's dense layers per row, for benchmarks that compare a
// measured throughput with what the matrix kernels could reach.

extension AttentionModel {
  /// Returns the multiply-adds of the dense layers in one forward pass over a row with `keys`
  /// behaviour items, as the model computes them.
  ///
  /// The count covers the activation unit with its first layer folded per row: building `M_b`
  /// and `R_b` takes `2 Q H`, and each key `Q H`. It adds the later layers for each key and the
  /// final MLP. In profile mode the keys are the user fields, so `keys` is ignored and their
  /// projections count too. Embedding lookups, activations, pooling and the optimizer are left
  /// out. In sequence mode `keys` is at most the spec's maximum sequence length, since padding
  /// positions cost nothing.
  public func forwardMultiplyAdds(keys: Int) -> Int {
    let s = structure
    var total = s.mlp.layers.reduce(0) { $0 + $1.inputs * $1.outputs }
    guard let unit = s.attention else { return total }
    let keyCount: Int
    switch s.mode {
    case .profile:
      keyCount = s.userFields.count
      total += keyCount * s.dimension * s.queryWidth
    case .sequence, .plain:
      keyCount = keys
    }
    total += 2 * unit.queryWidth * unit.first.outputs
    total += keyCount * unit.queryWidth * unit.first.outputs
    for layer in unit.rest?.layers ?? [] {
      total += keyCount * layer.inputs * layer.outputs
    }
    return total
  }

  /// Returns the multiply-adds of one training step's dense layers per row. Backpropagation
  /// through each layer forms the gradient of its input and that of its weights, each as large
  /// as the layer's forward product, so the step costs three forward passes.
  public func trainingMultiplyAdds(keys: Int) -> Int {
    3 * forwardMultiplyAdds(keys: keys)
  }
}
