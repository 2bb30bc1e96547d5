//! Streaming anomaly detection with Half-Space Trees (Tan, Ting & Liu,
//! "Fast Anomaly Detection for Streaming Data", IJCAI 2011), and the
//! calibration of an alarm threshold on its scores.
//!
//! An HS-tree halves a random workspace around the data, one random
//! dimension per level, to a fixed depth; the structure never looks at the
//! data. Data only fills in each node's mass: how many points of a window
//! fell into it. Two mass profiles are kept: the reference (the last
//! complete window), against which points are scored, and the latest (the
//! window being filled), which replaces the reference when the window is
//! full. A point in a region that held little mass is anomalous. Learning
//! and scoring cost O(trees × depth), independent of the stream's length,
//! and memory is bounded by the window.
//!
//! Used once per ended flow or device window, never per packet.

use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::sketch::{GOLDEN_GAMMA, mix64};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HalfSpaceError {
    #[error("a detector needs 1 to {MAX_FEATURES} features, got {0}")]
    Features(usize),
    #[error("trees must be at least 1, got {0}")]
    Trees(usize),
    #[error("depth must be 1 to {MAX_DEPTH}, got {0}")]
    Depth(usize),
    #[error("window must be 1 to {MAX_WINDOW}, got {0}")]
    Window(usize),
    #[error("quantile must lie in (0, 1), got {0}")]
    Quantile(f64),
    #[error("stored detector is inconsistent: {0}")]
    Stored(&'static str),
}

/// Deep enough for any practical stream: each level halves one dimension.
const MAX_DEPTH: usize = 30;
/// Masses are u16.
const MAX_WINDOW: usize = u16::MAX as usize;
/// Node dimensions are u16.
const MAX_FEATURES: usize = u16::MAX as usize + 1;

/// How the trees are built; the defaults are the paper's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HalfSpaceParams {
    pub trees: usize,
    /// Levels below the root (the paper's maxDepth).
    pub depth: usize,
    /// Points per mass profile (the paper's ψ).
    pub window: usize,
    pub seed: u64,
}

impl Default for HalfSpaceParams {
    fn default() -> HalfSpaceParams {
        HalfSpaceParams {
            trees: 25,
            depth: 15,
            window: 250,
            seed: 0x6873_745f_6d69_7264,
        }
    }
}

impl HalfSpaceParams {
    fn check(&self) -> Result<(), HalfSpaceError> {
        if self.trees == 0 {
            return Err(HalfSpaceError::Trees(self.trees));
        }
        if self.depth == 0 || self.depth > MAX_DEPTH {
            return Err(HalfSpaceError::Depth(self.depth));
        }
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(HalfSpaceError::Window(self.window));
        }
        Ok(())
    }

    /// The paper's sizeLimit, 0.1 ψ: scoring stops at the first node on a
    /// point's path holding no more reference mass than this, where the
    /// mass becomes too small to tell density.
    fn size_limit(&self) -> f64 {
        0.1 * self.window as f64
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, seedable generator,
/// enough to place workspaces and for the tests' synthetic streams.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix64(self.0)
    }

    /// Uniform in [0, 1), 53 bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// One node of an HS-tree, 16 bytes: walking the trees is bound by memory
/// latency, and a detector holds tens of thousands of nodes. Inner nodes
/// test the scaled feature, `x[dim] < split` (left) or not (right); nodes
/// at the tree's depth have no test. The split is an f32 in the scaled
/// space, where the workspace spans a few units: fine enough for 15 or
/// more halvings of one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "NodeFields", into = "NodeFields")]
struct Node {
    split: f32,
    dim: u16,
    /// Mass in the reference window (the paper's r).
    reference: u16,
    /// Mass in the window being filled (the paper's l).
    latest: u16,
    /// Index of the left child, the right one following it; 0 while the
    /// children have not been grown (the root is at 0, so no child is).
    children: u32,
}

/// A node stored as a tuple: persisted trees hold thousands of nodes.
type NodeFields = (f32, u16, u32, u16, u16);

impl Node {
    /// The paper's r·2^k when a point's walk at `level` stops here: the
    /// reference mass is at most `limit`, or the node is a leaf or at the
    /// depth; None when the walk goes on.
    fn mass_at(&self, level: usize, depth: usize, limit: f64) -> Option<f64> {
        let r = f64::from(self.reference);
        // Exact: integers times powers of two, far below 2^53.
        (r <= limit || self.children == 0 || level == depth).then(|| r * f64::from(1u32 << level))
    }
}

impl From<NodeFields> for Node {
    fn from((split, dim, children, reference, latest): NodeFields) -> Node {
        Node {
            split,
            dim,
            children,
            reference,
            latest,
        }
    }
}

impl From<Node> for NodeFields {
    fn from(n: Node) -> NodeFields {
        (n.split, n.dim, n.children, n.reference, n.latest)
    }
}

/// One HS-tree. The paper builds every tree complete, 2^(depth+1) − 1
/// nodes (65 535 at depth 15); here a node's children are grown the first
/// time a point passes through it, and subtrees without mass in either
/// profile are dropped at a window swap, so memory follows the mass:
/// at most (depth + 1) nodes per point of the two windows, times two for
/// the sibling grown alongside, times two for the growth allowed between
/// compactions. A node's test is a function of the seed
/// and its position (heap index) alone, so a subtree grown again is the
/// same as the one dropped: the trees are exactly the paper's complete
/// trees, only stored sparsely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    /// Picks each node's dimension from its heap index.
    salt: u64,
    /// Per dimension, the (low, high) bounds of the root's region, scaled.
    workspace: Vec<(f64, f64)>,
    nodes: Vec<Node>,
    /// Nodes after the last compaction: compact again at twice as many.
    compacted: usize,
}

impl Tree {
    /// The dimension tested at heap index `heap`.
    fn dimension(&self, heap: u64) -> usize {
        let h = mix64(self.salt ^ mix64(heap));
        ((u128::from(h) * self.workspace.len() as u128) >> 64) as usize
    }

    /// The node at heap index `heap`, `level` levels below the root, its
    /// test halving its region along its dimension. The region is the
    /// workspace cut by every ancestor that tested the same dimension; the
    /// ancestors are found from the heap index, whose binary form (plus
    /// one) is a leading 1 and then the turn taken at each level, 1 for
    /// right.
    fn node(&self, heap: u64, level: usize, leaf: bool) -> Node {
        let mut node = Node {
            split: 0.0,
            dim: 0,
            children: 0,
            reference: 0,
            latest: 0,
        };
        if leaf {
            return node;
        }
        let dim = self.dimension(heap);
        let (mut low, mut high) = self.workspace[dim];
        let turns = heap + 1;
        let mut at = 0usize;
        for step in (0..level).rev() {
            let ancestor = self.nodes[at];
            let right = (turns >> step) & 1 == 1;
            if ancestor.dim as usize == dim {
                if right {
                    low = f64::from(ancestor.split);
                } else {
                    high = f64::from(ancestor.split);
                }
            }
            at = ancestor.children as usize + usize::from(right);
        }
        node.dim = dim as u16;
        node.split = (0.5 * (low + high)) as f32;
        node
    }

    /// Grows both children of node `at`, at heap index `heap` and `level`.
    fn grow(&mut self, at: usize, heap: u64, level: usize, leaves: bool) {
        let first = self.nodes.len() as u32;
        let left = self.node(2 * heap + 1, level + 1, leaves);
        let right = self.node(2 * heap + 2, level + 1, leaves);
        self.nodes.push(left);
        self.nodes.push(right);
        self.nodes[at].children = first;
    }

    /// Makes the latest profile the reference and starts a new one, then
    /// drops the subtrees left without mass once the arena has doubled
    /// since the last compaction (amortised constant work per point).
    fn swap(&mut self) {
        for node in &mut self.nodes {
            node.reference = node.latest;
            node.latest = 0;
        }
        if self.nodes.len() <= 2 * self.compacted.max(64) {
            return;
        }
        // Breadth-first copy: each copied node still names its old
        // children until its turn comes, when they are copied after it.
        let mut kept = Vec::with_capacity(self.nodes.len() / 2);
        kept.push(self.nodes[0]);
        let mut at = 0;
        while at < kept.len() {
            let node: Node = kept[at];
            if node.children != 0 {
                if node.reference == 0 {
                    // Mass only shrinks down a path: the subtree is empty.
                    kept[at].children = 0;
                } else {
                    let old = node.children as usize;
                    kept[at].children = kept.len() as u32;
                    kept.push(self.nodes[old]);
                    kept.push(self.nodes[old + 1]);
                }
            }
            at += 1;
        }
        self.nodes = kept;
        self.compacted = self.nodes.len();
    }
}

/// Maps each feature onto the first window's [0, 1].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Scale {
    low: Vec<f64>,
    /// 1 / (high − low).
    inverse_span: Vec<f64>,
}

impl Scale {
    /// Feature `q` of value `v`, scaled; a NaN reads as the middle.
    fn of(&self, q: usize, v: f64) -> f64 {
        if v.is_nan() {
            0.5
        } else {
            (v - self.low[q]) * self.inverse_span[q]
        }
    }
}

/// An ensemble of Half-Space Trees over feature vectors of a fixed length.
///
/// **Scaling.** The paper assumes features in [0, 1]. Ranges are not known
/// upfront, so the first window is buffered: its per-feature minimum and
/// maximum define [0, 1], the trees' workspaces are placed over it and the
/// buffered points become the first reference profile. The scale is then
/// frozen, since moving it would invalidate every stored mass. Values
/// outside the first window's range need no clamp: each workspace
/// (s ± 2·max(s, 1 − s) for a random s in [0, 1]) covers at least
/// [−0.5, 1.5], and beyond it a point lands in the outermost cell, which is
/// what a clamp would do (infinities included). A feature constant in the
/// first window gets a span of max(|value|, 1). A NaN reads as the middle
/// of the first window's range.
///
/// **Score.** The paper's score is Σ over trees of r·2^k at the first node
/// on x's path whose reference mass r is at most 0.1 ψ (or at depth), k its
/// level: high for normal points. `score` maps it to
/// 1 − ln(1 + S)/ln(1 + S_max), S_max = trees·ψ·2^depth its upper bound: in
/// [0, 1], higher meaning more anomalous, 1 for a point in empty regions of
/// every tree, and in the same order as the paper's score. The log because
/// S spans orders of magnitude (a factor 2 per level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HalfSpaceFields")]
pub struct HalfSpaceTrees {
    params: HalfSpaceParams,
    dim: usize,
    /// The first window, row after row, until the trees are built.
    warmup: Vec<f64>,
    /// Empty until the trees are built.
    scale: Scale,
    trees: Vec<Tree>,
    /// Points in the latest profile.
    in_window: usize,
}

#[derive(Deserialize)]
struct HalfSpaceFields {
    params: HalfSpaceParams,
    dim: usize,
    warmup: Vec<f64>,
    scale: Scale,
    trees: Vec<Tree>,
    in_window: usize,
}

impl TryFrom<HalfSpaceFields> for HalfSpaceTrees {
    type Error = HalfSpaceError;

    /// Checks what indexing relies on, so a damaged file fails to load
    /// rather than panicking later.
    fn try_from(f: HalfSpaceFields) -> Result<HalfSpaceTrees, HalfSpaceError> {
        let bad = HalfSpaceError::Stored;
        let hst = HalfSpaceTrees::new(f.dim, f.params)?;
        if f.in_window >= f.params.window || f.warmup.len() % f.dim != 0 {
            return Err(bad("window counts"));
        }
        if f.trees.is_empty() {
            if f.warmup.len() >= f.params.window * f.dim || f.scale != Scale::default() {
                return Err(bad("warm-up"));
            }
        } else {
            let scaled = f.scale.low.len() == f.dim && f.scale.inverse_span.len() == f.dim;
            if f.trees.len() != f.params.trees || !scaled || !f.warmup.is_empty() {
                return Err(bad("tree count or scale"));
            }
            for tree in &f.trees {
                let len = tree.nodes.len();
                let window = f.params.window;
                let sound = |n: &Node| {
                    (n.dim as usize) < f.dim
                        && (n.children == 0 || (n.children as usize) + 1 < len)
                        && usize::from(n.reference) <= window
                        && usize::from(n.latest) <= f.in_window
                };
                if tree.workspace.len() != f.dim || len == 0 || !tree.nodes.iter().all(sound) {
                    return Err(bad("tree nodes"));
                }
            }
        }
        Ok(HalfSpaceTrees {
            warmup: f.warmup,
            scale: f.scale,
            trees: f.trees,
            in_window: f.in_window,
            ..hst
        })
    }
}

impl HalfSpaceTrees {
    /// A detector for vectors of `dim` features.
    pub fn new(dim: usize, params: HalfSpaceParams) -> Result<HalfSpaceTrees, HalfSpaceError> {
        if dim == 0 || dim > MAX_FEATURES {
            return Err(HalfSpaceError::Features(dim));
        }
        params.check()?;
        Ok(HalfSpaceTrees {
            params,
            dim,
            warmup: Vec::new(),
            scale: Scale::default(),
            trees: Vec::new(),
            in_window: 0,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> &HalfSpaceParams {
        &self.params
    }

    /// A reference window is complete: scores mean something.
    pub fn ready(&self) -> bool {
        !self.trees.is_empty()
    }

    /// Stored nodes over all trees (16 bytes each).
    pub fn nodes(&self) -> usize {
        self.trees.iter().map(|t| t.nodes.len()).sum()
    }

    /// Adds `x` to the window being filled; a full window becomes the
    /// reference. Panics if `x` does not have `dim` features.
    pub fn learn(&mut self, x: ArrayView1<f64>) {
        self.learn_scoring(x, false);
    }

    /// `score(x)` then `learn(x)`, the paper's test-then-train, in one walk
    /// down the trees (the score's path is the first part of the learning
    /// path): about half the cost of the two calls.
    pub fn score_and_learn(&mut self, x: ArrayView1<f64>) -> f64 {
        // This point may complete the first window: it is scored as the
        // model stood before it.
        let ready = self.ready();
        let mass = self.learn_scoring(x, true);
        if ready { self.score_of_mass(mass) } else { 0.0 }
    }

    /// Learns `x`; with `scoring`, returns its mass before learning (0 until
    /// ready).
    fn learn_scoring(&mut self, x: ArrayView1<f64>, scoring: bool) -> f64 {
        assert_eq!(x.len(), self.dim, "feature vector length");
        if !self.ready() {
            self.warmup.extend(x.iter());
            if self.warmup.len() == self.params.window * self.dim {
                self.build();
            }
            return 0.0;
        }
        let depth = self.params.depth;
        let limit = scoring.then(|| self.params.size_limit());
        let scale = &self.scale;
        let mut mass = 0.0;
        if self.dim <= STACK_FEATURES {
            let mut scaled = [0.0; STACK_FEATURES];
            for (q, (s, v)) in scaled.iter_mut().zip(x).enumerate() {
                *s = scale.of(q, *v);
            }
            for group in self.trees.chunks_mut(LANES) {
                mass += descend(group, depth, |q| scaled[q], false, limit);
            }
        } else {
            for group in self.trees.chunks_mut(LANES) {
                mass += descend(group, depth, |q| scale.of(q, x[q]), false, limit);
            }
        }
        self.in_window += 1;
        if self.in_window == self.params.window {
            self.trees.iter_mut().for_each(Tree::swap);
            self.in_window = 0;
        }
        mass
    }

    /// Places the workspaces over the first window's range and makes that
    /// window the reference profile.
    fn build(&mut self) {
        let rows = std::mem::take(&mut self.warmup);
        let (dim, depth) = (self.dim, self.params.depth);
        let mut low = vec![f64::INFINITY; dim];
        let mut high = vec![f64::NEG_INFINITY; dim];
        for row in rows.chunks_exact(dim) {
            for (q, v) in row.iter().enumerate() {
                if v.is_finite() {
                    low[q] = low[q].min(*v);
                    high[q] = high[q].max(*v);
                }
            }
        }
        let mut span = vec![1.0; dim];
        for q in 0..dim {
            if low[q] > high[q] {
                // Nothing finite seen.
                (low[q], high[q]) = (0.0, 0.0);
            }
            span[q] = if high[q] > low[q] {
                high[q] - low[q]
            } else {
                low[q].abs().max(1.0)
            };
        }
        self.scale = Scale {
            inverse_span: span.iter().map(|s| 1.0 / s).collect(),
            low,
        };
        let mut rng = SplitMix64::new(self.params.seed);
        self.trees = (0..self.params.trees)
            .map(|_| {
                let salt = rng.next_u64();
                let workspace = (0..dim)
                    .map(|_| {
                        let s = rng.next_f64();
                        let half = 2.0 * s.max(1.0 - s);
                        (s - half, s + half)
                    })
                    .collect();
                let mut tree = Tree {
                    salt,
                    workspace,
                    nodes: Vec::new(),
                    compacted: 0,
                };
                let root = tree.node(0, 0, false);
                tree.nodes.push(root);
                tree
            })
            .collect();
        for row in rows.chunks_exact(dim) {
            for group in self.trees.chunks_mut(LANES) {
                descend(group, depth, |q| self.scale.of(q, row[q]), true, None);
            }
        }
        for tree in &mut self.trees {
            tree.compacted = tree.nodes.len();
        }
        self.in_window = 0;
    }

    /// The paper's mass score, Σ r·2^k: higher is more normal; 0 until
    /// `ready`. Does not allocate.
    pub fn mass(&self, x: ArrayView1<f64>) -> f64 {
        assert_eq!(x.len(), self.dim, "feature vector length");
        if !self.ready() {
            return 0.0;
        }
        if self.dim <= STACK_FEATURES {
            let mut scaled = [0.0; STACK_FEATURES];
            for (q, (s, v)) in scaled.iter_mut().zip(x).enumerate() {
                *s = self.scale.of(q, *v);
            }
            self.mass_of(|q| scaled[q])
        } else {
            self.mass_of(|q| self.scale.of(q, x[q]))
        }
    }

    /// `mass` with feature q read, scaled, from `value(q)`.
    fn mass_of(&self, value: impl Fn(usize) -> f64) -> f64 {
        let (limit, depth) = (self.params.size_limit(), self.params.depth);
        let mut total = 0.0;
        for group in self.trees.chunks(LANES) {
            let mut at = [0usize; LANES];
            let mut done = [false; LANES];
            for level in 0..=depth {
                let mut walking = false;
                for ((tree, at), done) in group.iter().zip(&mut at).zip(&mut done) {
                    if *done {
                        continue;
                    }
                    let node = tree.nodes[*at];
                    if let Some(mass) = node.mass_at(level, depth, limit) {
                        total += mass;
                        *done = true;
                    } else {
                        let right = value(node.dim as usize) >= f64::from(node.split);
                        *at = node.children as usize + usize::from(right);
                        walking = true;
                    }
                }
                if !walking {
                    break;
                }
            }
        }
        total
    }

    /// How anomalous `x` is, in [0, 1] (see the type's documentation);
    /// 0 until `ready`. Does not allocate.
    pub fn score(&self, x: ArrayView1<f64>) -> f64 {
        if !self.ready() {
            return 0.0;
        }
        self.score_of_mass(self.mass(x))
    }

    fn score_of_mass(&self, mass: f64) -> f64 {
        if !self.ready() {
            return 0.0;
        }
        let p = &self.params;
        let most = (p.trees * p.window) as f64 * (p.depth as f64).exp2();
        (1.0 - mass.ln_1p() / most.ln_1p()).clamp(0.0, 1.0)
    }

    /// The (at most) `k` features that make `x` anomalous, with their share
    /// of the blame, most first.
    ///
    /// In each tree, x's path loses mass from the root's ψ to the node its
    /// score is read at. Each test on the way is charged the log of the
    /// mass it cut, ln((r_parent + 1)/(r_child + 1)), to its feature; the
    /// charges add up to the tree's whole loss. A normal point loses mass
    /// gradually over many features; a point off in one feature loses most
    /// of it in one test on that feature, where it leaves the data for an
    /// empty region. Shares are of the total over all trees; features never
    /// charged are left out.
    pub fn explain(&self, x: ArrayView1<f64>, k: usize) -> Vec<(usize, f64)> {
        assert_eq!(x.len(), self.dim, "feature vector length");
        let limit = self.params.size_limit();
        let mut blame = vec![0.0; self.dim];
        for tree in &self.trees {
            let (mut at, mut level) = (0usize, 0usize);
            loop {
                let node = tree.nodes[at];
                let r = f64::from(node.reference);
                if r <= limit || node.children == 0 || level == self.params.depth {
                    break;
                }
                let q = node.dim as usize;
                let right = self.scale.of(q, x[q]) >= f64::from(node.split);
                at = node.children as usize + usize::from(right);
                let child = f64::from(tree.nodes[at].reference);
                blame[node.dim as usize] += ((r + 1.0) / (child + 1.0)).ln();
                level += 1;
            }
        }
        let total: f64 = blame.iter().sum();
        let mut ranked: Vec<(usize, f64)> = blame
            .into_iter()
            .enumerate()
            .filter(|(_, b)| *b > 0.0)
            .map(|(q, b)| (q, b / total))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }
}

/// Trees walked side by side, one level of each in turn: their nodes are
/// independent loads the processor can fetch together, where walking one
/// tree to its depth waits on each node in turn. Cuts the cost of a call
/// by about 40 % (8 lanes measured better than 1 or 32).
const LANES: usize = 8;

/// Up to this many features, a point is scaled once per call into a
/// buffer on the stack rather than at every node.
const STACK_FEATURES: usize = 64;

/// Adds a point to one profile of every node on its path in each tree of
/// `group` (at most `LANES`), to the tree's depth, growing children where
/// none were. `value(q)` is feature q, scaled. With a size `limit`, also
/// reads the point's mass on the way, as `mass` does (before the point
/// counts), and returns it.
fn descend(
    group: &mut [Tree],
    depth: usize,
    value: impl Fn(usize) -> f64,
    reference: bool,
    limit: Option<f64>,
) -> f64 {
    let mut at = [0u32; LANES];
    let mut heaps = [0u64; LANES];
    let mut scored = [limit.is_none(); LANES];
    let mut mass = 0.0;
    for level in 0..=depth {
        for (((tree, at), heap), scored) in group
            .iter_mut()
            .zip(&mut at)
            .zip(&mut heaps)
            .zip(&mut scored)
        {
            let node = &mut tree.nodes[*at as usize];
            if let Some(limit) = limit.filter(|_| !*scored)
                && let Some(m) = node.mass_at(level, depth, limit)
            {
                mass += m;
                *scored = true;
            }
            if reference {
                node.reference += 1;
            } else {
                node.latest += 1;
            }
            if level == depth {
                continue;
            }
            if node.children == 0 {
                tree.grow(*at as usize, *heap, level, level + 1 == depth);
            }
            let node = tree.nodes[*at as usize];
            let q = node.dim as usize;
            let right = value(q) >= f64::from(node.split);
            *at = node.children + u32::from(right);
            *heap = 2 * *heap + 1 + u64::from(right);
        }
    }
    mass
}

/// Learns an alarm threshold: the `quantile` of the scores seen during a
/// learning period (say 0.995: one alarm per 200 normal points), estimated
/// in constant memory with the P² algorithm (Jain & Chlamtac 1985). Five
/// markers track the minimum, the quantile, the maximum and two midpoints;
/// each observation shifts the markers' positions, and a marker that
/// drifts from its ideal position is moved, its height following a
/// parabola through its neighbours. The estimate needs well over
/// 1/(1 − quantile) observations to settle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CalibratorFields")]
pub struct Calibrator {
    quantile: f64,
    count: u64,
    /// Marker heights; the first `count` hold the observations, sorted,
    /// until there are five.
    heights: [f64; 5],
    /// Marker positions (1-based ranks).
    positions: [f64; 5],
    /// Where the markers should be.
    desired: [f64; 5],
}

#[derive(Deserialize)]
struct CalibratorFields {
    quantile: f64,
    count: u64,
    heights: [f64; 5],
    positions: [f64; 5],
    desired: [f64; 5],
}

impl TryFrom<CalibratorFields> for Calibrator {
    type Error = HalfSpaceError;

    fn try_from(f: CalibratorFields) -> Result<Calibrator, HalfSpaceError> {
        Calibrator::new(f.quantile)?;
        Ok(Calibrator {
            quantile: f.quantile,
            count: f.count,
            heights: f.heights,
            positions: f.positions,
            desired: f.desired,
        })
    }
}

impl Calibrator {
    pub fn new(quantile: f64) -> Result<Calibrator, HalfSpaceError> {
        if !(quantile > 0.0 && quantile < 1.0) {
            return Err(HalfSpaceError::Quantile(quantile));
        }
        let p = quantile;
        Ok(Calibrator {
            quantile,
            count: 0,
            heights: [0.0; 5],
            positions: [1.0, 2.0, 3.0, 4.0, 5.0],
            desired: [1.0, 1.0 + 2.0 * p, 1.0 + 4.0 * p, 3.0 + 2.0 * p, 5.0],
        })
    }

    pub fn quantile(&self) -> f64 {
        self.quantile
    }

    /// Scores observed (NaNs are ignored).
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn observe(&mut self, score: f64) {
        if score.is_nan() {
            return;
        }
        if self.count < 5 {
            let n = self.count as usize;
            self.heights[n] = score;
            self.heights[..=n].sort_by(f64::total_cmp);
            self.count += 1;
            return;
        }
        self.count += 1;
        let (q, n) = (&mut self.heights, &mut self.positions);
        // The cell the observation falls in, stretching the extremes.
        let cell = if score < q[0] {
            q[0] = score;
            0
        } else if score >= q[4] {
            q[4] = score;
            3
        } else {
            (1..4).find(|i| score < q[*i]).map_or(3, |i| i - 1)
        };
        for position in &mut n[cell + 1..] {
            *position += 1.0;
        }
        let p = self.quantile;
        let step = [0.0, p / 2.0, p, (1.0 + p) / 2.0, 1.0];
        for (desired, s) in self.desired.iter_mut().zip(step) {
            *desired += s;
        }
        for i in 1..4 {
            let drift = self.desired[i] - n[i];
            if (drift >= 1.0 && n[i + 1] - n[i] > 1.0) || (drift <= -1.0 && n[i - 1] - n[i] < -1.0)
            {
                let d = drift.signum();
                let parabolic = q[i]
                    + d / (n[i + 1] - n[i - 1])
                        * ((n[i] - n[i - 1] + d) * (q[i + 1] - q[i]) / (n[i + 1] - n[i])
                            + (n[i + 1] - n[i] - d) * (q[i] - q[i - 1]) / (n[i] - n[i - 1]));
                q[i] = if q[i - 1] < parabolic && parabolic < q[i + 1] {
                    parabolic
                } else {
                    let j = if d > 0.0 { i + 1 } else { i - 1 };
                    q[i] + d * (q[j] - q[i]) / (n[j] - n[i])
                };
                n[i] += d;
            }
        }
    }

    /// The estimated quantile of the scores observed; None before any.
    /// Below five observations, the nearest-rank quantile of those seen.
    pub fn threshold(&self) -> Option<f64> {
        match self.count {
            0 => None,
            n @ 1..5 => {
                let rank = (self.quantile * n as f64).ceil() as usize;
                Some(self.heights[rank.clamp(1, n as usize) - 1])
            }
            _ => Some(self.heights[2]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;

    /// A standard normal draw (Box–Muller).
    fn gaussian(rng: &mut SplitMix64) -> f64 {
        let u = 1.0 - rng.next_f64();
        let v = rng.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Normal points: independent features, each with its own mean and
    /// spread (raw units differ, as real features do).
    fn normal_point(rng: &mut SplitMix64, dim: usize) -> Array1<f64> {
        Array1::from_iter((0..dim).map(|q| 10.0 * q as f64 + (1.0 + q as f64) * gaussian(rng)))
    }

    /// An outlier: a normal point with one to three features pushed 4 to 6
    /// of their standard deviations away.
    fn outlier(rng: &mut SplitMix64, dim: usize) -> Array1<f64> {
        let mut x = normal_point(rng, dim);
        let pushed = 1 + (rng.next_u64() % 3) as usize;
        for _ in 0..pushed.min(dim) {
            let q = (rng.next_u64() % dim as u64) as usize;
            let sign = if rng.next_u64() % 2 == 0 { 1.0 } else { -1.0 };
            x[q] = 10.0 * q as f64 + sign * (4.0 + 2.0 * rng.next_f64()) * (1.0 + q as f64);
        }
        x
    }

    /// Area under the ROC curve: the chance an outlier outscores a normal
    /// point (ties count half).
    fn auc(outliers: &[f64], normals: &[f64]) -> f64 {
        let mut wins = 0.0;
        for o in outliers {
            for n in normals {
                wins += if o > n {
                    1.0
                } else if o == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / (outliers.len() * normals.len()) as f64
    }

    #[test]
    fn score_and_learn_is_score_then_learn() {
        let mut rng = SplitMix64::new(7);
        let mut one = HalfSpaceTrees::new(5, HalfSpaceParams::default()).unwrap();
        let mut two = one.clone();
        for i in 0..2000 {
            let x = if i % 50 == 49 {
                outlier(&mut rng, 5)
            } else {
                normal_point(&mut rng, 5)
            };
            let before = one.score(x.view());
            one.learn(x.view());
            assert_eq!(two.score_and_learn(x.view()), before, "point {i}");
        }
        assert_eq!(one, two);
    }

    /// Streams `points` points with 1 % outliers, scoring each before
    /// learning it as the paper does; returns the scores of each kind.
    fn stream(dim: usize, points: usize, seed: u64) -> (Vec<f64>, Vec<f64>, HalfSpaceTrees) {
        let mut rng = SplitMix64::new(seed);
        let mut hst = HalfSpaceTrees::new(dim, HalfSpaceParams::default()).unwrap();
        let (mut outliers, mut normals) = (Vec::new(), Vec::new());
        for i in 0..points {
            let is_outlier = i >= 250 && rng.next_u64() % 100 == 0;
            let x = if is_outlier {
                outlier(&mut rng, dim)
            } else {
                normal_point(&mut rng, dim)
            };
            if hst.ready() {
                let s = hst.score(x.view());
                assert!((0.0..=1.0).contains(&s));
                if is_outlier {
                    &mut outliers
                } else {
                    &mut normals
                }
                .push(s);
            }
            hst.learn(x.view());
        }
        (outliers, normals, hst)
    }

    #[test]
    fn flags_injected_outliers() {
        for dim in [2, 10] {
            let (outliers, normals, hst) = stream(dim, 20_000, 3);
            let area = auc(&outliers, &normals);
            println!(
                "{dim}-D: AUC {area:.4} over {} outliers, {} nodes",
                outliers.len(),
                hst.nodes()
            );
            assert!(outliers.len() > 100);
            assert!(area > 0.9, "{dim}-D AUC {area}");
        }
    }

    #[test]
    fn not_ready_until_a_window_and_scores_zero_before() {
        let params = HalfSpaceParams {
            window: 10,
            ..Default::default()
        };
        let mut hst = HalfSpaceTrees::new(3, params).unwrap();
        let x = Array1::from(vec![1.0, 2.0, 3.0]);
        for _ in 0..9 {
            hst.learn(x.view());
            assert!(!hst.ready());
            assert_eq!(hst.score(x.view()), 0.0);
        }
        hst.learn(x.view());
        assert!(hst.ready());
        // Constant features: the point itself is normal, others are not.
        let far = Array1::from(vec![9.0, 2.0, 3.0]);
        assert!(hst.score(far.view()) > hst.score(x.view()));
        // NaN reads as the middle of the range: still scores, finitely.
        let nan = Array1::from(vec![f64::NAN, 2.0, f64::INFINITY]);
        assert!(hst.score(nan.view()).is_finite());
    }

    #[test]
    fn deterministic_for_a_seed() {
        let run = |seed: u64| {
            let params = HalfSpaceParams {
                seed,
                ..Default::default()
            };
            let mut hst = HalfSpaceTrees::new(4, params).unwrap();
            let mut rng = SplitMix64::new(11);
            let mut scores = Vec::new();
            for _ in 0..1200 {
                let x = normal_point(&mut rng, 4);
                scores.push(hst.score(x.view()));
                hst.learn(x.view());
            }
            scores
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn round_trips_through_serde() {
        let mut rng = SplitMix64::new(5);
        let mut hst = HalfSpaceTrees::new(5, HalfSpaceParams::default()).unwrap();
        // Before the first window: the warm-up buffer is stored.
        for _ in 0..100 {
            hst.learn(normal_point(&mut rng, 5).view());
        }
        let json = serde_json::to_string(&hst).unwrap();
        assert_eq!(serde_json::from_str::<HalfSpaceTrees>(&json).unwrap(), hst);
        // Mid-window, after a swap and a compaction.
        for _ in 0..1_130 {
            hst.learn(normal_point(&mut rng, 5).view());
        }
        let json = serde_json::to_string(&hst).unwrap();
        let mut back: HalfSpaceTrees = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hst);
        for _ in 0..300 {
            let x = outlier(&mut rng, 5);
            assert_eq!(back.score(x.view()), hst.score(x.view()));
            back.learn(x.view());
            hst.learn(x.view());
        }
        assert_eq!(back, hst);
        // Damage is refused, not carried to a panic.
        let bad = json.replacen("\"dim\":5", "\"dim\":4", 1);
        assert!(serde_json::from_str::<HalfSpaceTrees>(&bad).is_err());
    }

    #[test]
    fn compaction_keeps_the_trees_and_bounds_memory() {
        let mut rng = SplitMix64::new(8);
        let params = HalfSpaceParams::default();
        let mut hst = HalfSpaceTrees::new(6, params).unwrap();
        for _ in 0..params.window {
            hst.learn(normal_point(&mut rng, 6).view());
        }
        let mut never = hst.clone();
        never
            .trees
            .iter_mut()
            .for_each(|t| t.compacted = usize::MAX / 4);
        let mut peak = 0;
        for _ in 0..10_000 {
            let x = normal_point(&mut rng, 6);
            hst.learn(x.view());
            never.learn(x.view());
            peak = peak.max(hst.nodes());
        }
        // Same scores with or without dropping empty subtrees.
        for _ in 0..200 {
            let x = outlier(&mut rng, 6);
            assert_eq!(hst.score(x.view()), never.score(x.view()));
        }
        // Two windows of paths, twice over for siblings and slack.
        let bound = 2 * 2 * 2 * params.window * (params.depth + 1) * params.trees;
        println!("peak {peak} nodes, {} without compaction", never.nodes());
        assert!(peak <= bound, "{peak} > {bound}");
        assert!(never.nodes() > hst.nodes());
    }

    #[test]
    fn explain_names_the_perturbed_feature() {
        let dim = 10;
        let (_, _, hst) = stream(dim, 5_000, 9);
        for q in 0..dim {
            let mut x = Array1::from_iter((0..dim).map(|f| 10.0 * f as f64));
            x[q] += 6.0 * (1.0 + q as f64);
            let blame = hst.explain(x.view(), 3);
            println!("feature {q}: {blame:?}");
            assert_eq!(blame[0].0, q, "feature {q}: {blame:?}");
            assert!(blame[0].1 > 2.0 * blame[1].1, "feature {q}: {blame:?}");
            assert!(blame.len() <= 3 && blame.windows(2).all(|w| w[0].1 >= w[1].1));
        }
    }

    #[test]
    fn calibrator_finds_the_quantile() {
        let mut rng = SplitMix64::new(4);
        // Exponential(1): the 0.995 quantile is ln 200.
        let mut tail = Calibrator::new(0.995).unwrap();
        let mut median = Calibrator::new(0.5).unwrap();
        for _ in 0..200_000 {
            tail.observe(-(1.0 - rng.next_f64()).ln());
            median.observe(gaussian(&mut rng));
        }
        let (t, m) = (tail.threshold().unwrap(), median.threshold().unwrap());
        println!(
            "0.995 of Exp(1): {t} (true {}); median of N(0,1): {m}",
            200f64.ln()
        );
        assert!((t - 200f64.ln()).abs() / 200f64.ln() < 0.03, "{t}");
        assert!(m.abs() < 0.02, "{m}");
        assert_eq!(tail.count(), 200_000);
        let json = serde_json::to_string(&tail).unwrap();
        assert_eq!(serde_json::from_str::<Calibrator>(&json).unwrap(), tail);
    }

    #[test]
    fn calibrator_with_few_scores() {
        assert!(Calibrator::new(1.0).is_err());
        assert!(Calibrator::new(f64::NAN).is_err());
        let mut c = Calibrator::new(0.5).unwrap();
        assert_eq!(c.threshold(), None);
        for s in [0.9, 0.1, f64::NAN, 0.5] {
            c.observe(s);
        }
        assert_eq!((c.count(), c.threshold()), (3, Some(0.5)));
        for s in [0.2, 0.3, 0.4, 0.6, 0.7, 0.8] {
            c.observe(s);
        }
        let t = c.threshold().unwrap();
        assert!((0.3..=0.7).contains(&t), "{t}");
    }

    /// `cargo test -p classifiers --release -- --ignored --nocapture cost`
    /// Counts the thread's time on the processor (Linux schedstat), not
    /// the wall clock: a busy machine then costs cache misses, not time
    /// slices. The best of several rounds.
    #[test]
    #[ignore]
    fn cost_of_score_and_learn() {
        let on_cpu_ns = || -> f64 {
            let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
            stat.split_whitespace().next().unwrap().parse().unwrap()
        };
        let dim = 30;
        let mut rng = SplitMix64::new(1);
        let mut trained = HalfSpaceTrees::new(dim, HalfSpaceParams::default()).unwrap();
        let points: Vec<Array1<f64>> = (0..10_000).map(|_| normal_point(&mut rng, dim)).collect();
        for x in &points[..5_000] {
            trained.learn(x.view());
        }
        // 50 000 calls a round: the counter moves a scheduler tick at a time.
        let calls = || points[5_000..].iter().cycle().take(50_000);
        let per_call = |start: f64| (on_cpu_ns() - start) / 1e3 / 50_000.0;
        let (mut both, mut score, mut learn) = (f64::MAX, f64::MAX, f64::MAX);
        let mut sum = 0.0;
        for _ in 0..5 {
            let mut hst = trained.clone();
            let start = on_cpu_ns();
            for x in calls() {
                sum += hst.score(x.view());
                hst.learn(x.view());
            }
            both = both.min(per_call(start));
            let start = on_cpu_ns();
            for x in calls() {
                sum += hst.score(x.view());
            }
            score = score.min(per_call(start));
            let mut hst = trained.clone();
            let start = on_cpu_ns();
            for x in calls() {
                hst.learn(x.view());
            }
            learn = learn.min(per_call(start));
        }
        println!(
            "{dim} features, {} nodes, {} bytes of JSON: score + learn {both:.2} µs \
             (score {score:.2}, learn {learn:.2}); {sum:.0}",
            trained.nodes(),
            serde_json::to_string(&trained).unwrap().len()
        );
    }
}
