//! The `mirador` command line: the edge where errors become messages.

mod main_model;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use fingerprints::proto::Knowledge;
use fingerprints::proto::tcp_syn::P0fDatabase;
use sensor::anomaly::{AnomalyConfig, AnomalyReport, Monitor};
use sensor::capture::CaptureError;
use sensor::export::api::{self, Server, Source};
use sensor::export::eve::{EventBuffer, EventOutput};
use sensor::export::view::View;
use sensor::export::{inventory_json, table};
use sensor::extract::ExtractConfig;
use sensor::flow::FlowConfig;
use sensor::inventory::{Inventory, InventoryConfig, InventorySnapshot};
use sensor::pipeline::live::{Backend, LiveOptions};
use sensor::pipeline::{RunObserver, RunSummary, Sensor};
use sensor::trust;

// Findings, evidence and flow records are many small short-lived allocations
// spread over worker threads: mimalloc's per-thread free lists serve them
// faster than glibc's arenas. Without transparent huge pages (`no_thp`): a
// huge page is zeroed whole on first touch, which cost more than it saved.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mirador",
    version,
    about = "Passive network sensor: discovers the devices on a network from what they say.",
    long_about = "mirador listens to a mirror port or reads recorded captures, never sends a packet, \
and builds an inventory of the devices it hears: their MAC vendor, addresses, peers and protocols, \
with every conversation reported as an EVE JSON flow event.",
    after_help = "Examples:\n  \
mirador analyze pcaps/ndpi/1kxun.pcap\n  \
mirador analyze captures/ --inventory inventory.json --events events.jsonl\n  \
mirador analyze day1.pcapng.gz day2.pcapng.gz --events - | jq 'select(.event_type==\"flow\")'\n  \
mirador live --interface eth1 --events /var/log/mirador/eve.json --inventory /var/lib/mirador/inventory.json --listen 127.0.0.1:9477\n  \
mirador serve /var/lib/mirador/inventory.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse capture files or directories of them (pcap, pcapng, gzip-compressed).
    #[command(after_help = "Examples:\n  \
mirador analyze pcaps/ndpi/1kxun.pcap\n      print the device table of one capture\n  \
mirador analyze /srv/captures --inventory inv.json --events eve.jsonl\n      \
every capture under a directory, merged in time order, to files\n  \
mirador analyze a.pcap b.pcapng.gz --events - --no-table | jq .flow.bytes_toserver\n      \
events to stdout for a pipeline\n  \
mirador analyze big.pcap --workers 1 --idle-timeout 600\n      \
one worker, flows idle up to 10 minutes\n\n\
Exit status: 0 when every input was read whole, 1 when any input failed (the others are still \
analysed and the outputs still written), 2 on usage errors.")]
    Analyze(AnalyzeArgs),
    /// Capture live from network interfaces (a mirror/SPAN port or a TAP).
    #[command(after_help = "Examples:\n  \
mirador live --interface eth1\n      capture until Ctrl-C, then print the device table\n  \
mirador live -I eth1 -I eth2 --events eve.jsonl --inventory inv.json --inventory-interval 30\n      \
two mirror ports, inventory rewritten every 30 s\n  \
mirador live -I eth1 --duration 60 --workers 2\n      one minute with two workers\n\n\
Needs CAP_NET_RAW (run as root, or: setcap cap_net_raw+ep $(command -v mirador)). \
The interface is put in promiscuous mode.")]
    Live(LiveArgs),
    /// Serve a stored inventory (written by analyze or live) over the HTTP
    /// API and /metrics.
    #[command(after_help = "Examples:\n  \
mirador serve inventory.json\n      on http://127.0.0.1:9477 until Ctrl-C\n  \
curl -s 'http://127.0.0.1:9477/api/v1/devices?category=ot&limit=10' | jq .\n  \
MIRADOR_API_TOKEN=s3cret mirador serve inventory.json --listen 0.0.0.0:9477\n      \
on every interface: every request needs 'Authorization: Bearer s3cret'\n\n\
Endpoints, parameters and metric names: docs/operations.md.")]
    Serve(ServeArgs),
    /// Train the behavioural model on labelled captures.
    #[command(after_help = "Example:\n  \
mirador train --labels classifiers/data/iot-sentinel-labels.csv ../shared/captures/iot-sentinel -o model.json\n\n\
Each capture is analysed on its own; the labels name devices by MAC (and capture). \
docs/classification.md describes the labels file, the features and the model file.")]
    Train(main_model::TrainArgs),
    /// Judge a model (or cross-validate) on labelled captures: accuracy,
    /// macro-F1, per-class precision and recall, confusion matrix.
    #[command(after_help = "Examples:\n  \
mirador eval --labels labels.csv --model model.json captures/\n  \
mirador eval --labels labels.csv --cv 5 --json captures/")]
    Eval(main_model::EvalArgs),
    /// Show the evidence and model features behind a device's verdicts.
    #[command(after_help = "Examples:\n  \
mirador explain 50:c7:bf:00:c7:03 inventory.json\n  \
mirador explain 50:c7:bf:00:c7:03 capture.pcap")]
    Explain(main_model::ExplainArgs),
}

#[derive(Args)]
struct Common {
    /// Write events as EVE JSON lines to FILE ('-' for stdout).
    #[arg(short, long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Write the inventory as JSON to FILE ('-' for stdout).
    #[arg(short, long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Worker threads; flows are spread over them by a symmetric hash.
    #[arg(short, long, value_name = "N", default_value_t = default_workers())]
    workers: usize,
    /// A directory of fingerprint data files (oui.tsv, vendor-ids/*.tsv,
    /// default-credentials.tsv, p0f.fp, kb/taxonomy.tsv, kb/rules/*.tsv)
    /// that extend and override the built-in ones.
    #[arg(long, value_name = "DIR", env = "MIRADOR_FINGERPRINTS")]
    fingerprints: Option<PathBuf>,
    /// p0f v3 signature database for TCP SYN OS labels [default: p0f.fp in
    /// --fingerprints, then mirador's shared data, then /etc/p0f/p0f.fp].
    #[arg(long, value_name = "FILE", env = "MIRADOR_P0F")]
    p0f: Option<PathBuf>,
    /// A flow with no packet for this many seconds ends [default: 3600
    /// for analyze, 300 for live].
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// A TCP flow closed by FIN or RST ends after this many quiet seconds
    /// [default: 60 for analyze, 30 for live].
    #[arg(long, value_name = "SECS")]
    closed_timeout: Option<u64>,
    /// A flow still going after this many seconds is reported and restarted
    /// [default: 86400 for analyze, 3600 for live].
    #[arg(long, value_name = "SECS")]
    active_timeout: Option<u64>,
    /// Live flows at most; beyond it the longest-idle flow is evicted.
    #[arg(long, value_name = "N", default_value_t = FlowConfig::default().max_flows)]
    max_flows: usize,
    /// Devices at most; beyond it the least recently seen are evicted.
    #[arg(long, value_name = "N", default_value_t = InventoryConfig::default().max_devices)]
    max_devices: usize,
    /// Evidence items kept per device or remote host; beyond it the least
    /// recently said go first.
    #[arg(long, value_name = "N", default_value_t = InventoryConfig::default().max_evidence)]
    max_evidence: usize,
    /// Distinct values kept per evidence field (hostnames, domains ...).
    #[arg(long, value_name = "N", default_value_t = InventoryConfig::default().max_values_per_field)]
    max_values_per_field: usize,
    /// The behavioural model file [default: the shipped one, trained on
    /// the IoT Sentinel captures].
    #[arg(long, value_name = "FILE", env = "MIRADOR_MODEL")]
    model: Option<PathBuf>,
    /// Classify from the knowledge base alone.
    #[arg(long, conflicts_with = "model")]
    no_model: bool,
    /// Seconds of each device's traffic learnt as normal before the
    /// novelty, volume and drift detectors judge it.
    #[arg(long, value_name = "SECS", default_value_t = AnomalyConfig::default().learning_period)]
    learning_period: u64,
    /// No behaviour baselines and no anomaly detection.
    #[arg(long)]
    no_anomalies: bool,
    /// Rows of the device table (0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    table_rows: usize,
    /// Do not print the device table.
    #[arg(long)]
    no_table: bool,
    /// Print neither the table nor the summary.
    #[arg(short, long)]
    quiet: bool,
}

impl Common {
    /// Whether the device table is printed.
    fn shows_table(&self) -> bool {
        !self.quiet && !self.no_table
    }

    /// Whether an output shows the inventory: the table, the document, the
    /// events (which end with each device's trust) or the summary (its
    /// trust line).
    fn shows_inventory(&self) -> bool {
        self.inventory.is_some() || self.events.is_some() || !self.quiet
    }
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Capture files or directories (searched recursively for captures).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Show a progress bar: auto shows it when stderr is a terminal.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,
    #[command(flatten)]
    http: Listen,
}

/// The HTTP API and /metrics of a running sensor.
#[derive(Args)]
struct Listen {
    /// Serve the HTTP API and Prometheus /metrics on ADDR (host:port; port
    /// 0 picks a free one). analyze goes on serving after the replay, until
    /// interrupted.
    #[arg(long, value_name = "ADDR", value_parser = socket_addr)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    token: ApiToken,
}

#[derive(Args)]
struct ApiToken {
    /// The bearer token every HTTP request must send ('Authorization:
    /// Bearer TOKEN'); needed to listen on anything but a loopback address.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MIRADOR_API_TOKEN",
        hide_env_values = true
    )]
    api_token: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// An inventory document written by `analyze --inventory` or `live
    /// --inventory`.
    #[arg(value_name = "INVENTORY.json")]
    inventory: PathBuf,
    /// Where to serve (host:port).
    #[arg(long, value_name = "ADDR", value_parser = socket_addr, default_value = "127.0.0.1:9477")]
    listen: SocketAddr,
    #[command(flatten)]
    token: ApiToken,
}

/// `host:port`, the host a name or an address.
fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("{text}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text}: no address"))
}

#[derive(Args)]
struct LiveArgs {
    /// Interface to capture on (repeat for several).
    #[arg(short = 'I', long = "interface", required = true, value_name = "IF")]
    interfaces: Vec<String>,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Rewrite the --inventory file this often (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    inventory_interval: u64,
    /// A BPF filter expression (needs the build feature `libpcap`).
    #[cfg(feature = "libpcap")]
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    http: Listen,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Progress {
    Auto,
    Always,
    Never,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Live(args) => live(args),
        Command::Serve(args) => serve(args),
        Command::Train(args) => main_model::train(args),
        Command::Eval(args) => main_model::eval(args),
        Command::Explain(args) => main_model::explain(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mirador: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Opens an output: a file, or stdout for '-'.
fn create_output(path: &Path) -> Result<Box<dyn Write + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufWriter::new(io::stdout())));
    }
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(BufWriter::with_capacity(1 << 20, file)))
}

/// The text of a data file.
fn read_data(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Where p0f.fp is looked for when not named: the user's fingerprint
/// directory, mirador's shared data (installed, or the source tree beside a
/// cargo build), then the Debian p0f package's.
fn p0f_candidates(common: &Common) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = common
        .fingerprints
        .iter()
        .map(|dir| dir.join("p0f.fp"))
        .collect();
    if let Ok(exe) = std::env::current_exe()
        && let Some(bin) = exe.parent()
    {
        paths.push(bin.join("../share/mirador/p0f.fp"));
        paths.push(bin.join("../../fingerprints/data/p0f.fp"));
    }
    paths.push(PathBuf::from("/usr/share/mirador/p0f.fp"));
    paths.push(PathBuf::from("/etc/p0f/p0f.fp"));
    paths
}

/// What parsers match against: vendor ids and default credentials (built
/// in, then the user's) and p0f's signatures (a file loaded at run time).
fn load_knowledge(common: &Common) -> Result<Knowledge> {
    let mut vendor_ids = fingerprints::VendorIds::builtin();
    if let Some(dir) = &common.fingerprints {
        for (protocol, _) in fingerprints::vendor_ids::BUILTIN {
            let path = dir.join("vendor-ids").join(format!("{protocol}.tsv"));
            if path.exists() {
                vendor_ids.load(protocol, &path.display().to_string(), &read_data(&path)?)?;
            }
        }
    }
    let mut default_credentials = fingerprints::DefaultCredentials::builtin();
    if let Some(dir) = &common.fingerprints {
        let path = dir.join("default-credentials.tsv");
        if path.exists() {
            default_credentials.load(&path.display().to_string(), &read_data(&path)?)?;
        }
    }
    let p0f_path = match &common.p0f {
        Some(path) => Some(path.clone()),
        None => p0f_candidates(common).into_iter().find(|p| p.is_file()),
    };
    let p0f = match p0f_path {
        Some(path) => P0fDatabase::load(&path.display().to_string(), &read_data(&path)?)?,
        None => {
            if !common.quiet {
                eprintln!(
                    "mirador: no p0f.fp found (--p0f FILE); TCP SYN signatures get no OS label"
                );
            }
            P0fDatabase::default()
        }
    };
    Ok(Knowledge {
        p0f,
        vendor_ids,
        default_credentials,
    })
}

/// The classification rules: the shipped ones, then the user's
/// (`DIR/kb/taxonomy.tsv` and every `DIR/kb/rules/*.tsv`, in name order),
/// which add to and override them.
fn load_knowledge_base(common: &Common) -> Result<fingerprints::kb::KnowledgeBase> {
    let mut kb = fingerprints::kb::KnowledgeBase::builtin()?;
    if let Some(dir) = &common.fingerprints {
        let taxonomy = dir.join("kb/taxonomy.tsv");
        if taxonomy.exists() {
            kb.load_taxonomy(&taxonomy.display().to_string(), &read_data(&taxonomy)?)?;
        }
        let rules = dir.join("kb/rules");
        if rules.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&rules)
                .with_context(|| format!("cannot list {}", rules.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
                .collect();
            files.sort();
            for path in files {
                kb.load_rules(&path.display().to_string(), &read_data(&path)?)?;
            }
        }
    }
    Ok(kb)
}

fn build_sensor(
    common: &Common,
    flow_defaults: FlowConfig,
    kb: fingerprints::kb::KnowledgeBase,
    model: Option<std::sync::Arc<classifiers::Model>>,
) -> Result<Sensor> {
    let mut oui = fingerprints::OuiRegistry::builtin();
    if let Some(dir) = &common.fingerprints {
        let path = dir.join("oui.tsv");
        if path.exists() {
            oui.load(&path.display().to_string(), &read_data(&path)?)?;
        }
    }
    let knowledge = load_knowledge(common)?;
    let events = match &common.events {
        Some(path) => Some(EventOutput::new(create_output(path)?)),
        None => None,
    };
    let inventory_config = InventoryConfig {
        max_devices: common.max_devices,
        max_evidence: common.max_evidence,
        max_values_per_field: common.max_values_per_field,
        ..InventoryConfig::default()
    };
    Ok(Sensor {
        workers: common.workers.max(1),
        flows: FlowConfig {
            idle_timeout: common.idle_timeout.unwrap_or(flow_defaults.idle_timeout),
            closed_timeout: common
                .closed_timeout
                .unwrap_or(flow_defaults.closed_timeout),
            active_timeout: common
                .active_timeout
                .unwrap_or(flow_defaults.active_timeout),
            max_flows: common.max_flows,
        },
        extract: ExtractConfig::default(),
        knowledge,
        monitor: (!common.no_anomalies).then(|| {
            let config = AnomalyConfig {
                learning_period: common.learning_period,
                ..AnomalyConfig::default()
            };
            Monitor::new(config, common.workers.max(1))
        }),
        inventory: {
            let inventory = Inventory::new(inventory_config, oui).with_knowledge_base(kb);
            match model {
                Some(model) => inventory.with_model(model),
                None => inventory,
            }
        },
        events,
        telemetry: Default::default(),
    })
}

/// Reports errors as they happen and drives the progress bar.
struct Console {
    bar: Option<indicatif::ProgressBar>,
}

impl RunObserver for Console {
    fn progress(&self, read: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(read.min(total));
        }
    }

    fn error(&self, error: &CaptureError) {
        let line = format!("mirador: {error}");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

/// Starts the HTTP server when `--listen` asks for it.
fn start_server(listen: &Listen, source: impl FnOnce() -> Source) -> Result<Option<Server>> {
    let Some(addr) = listen.listen else {
        return Ok(None);
    };
    serve_on(addr, &listen.token, source()).map(Some)
}

fn serve_on(addr: SocketAddr, token: &ApiToken, source: Source) -> Result<Server> {
    let listener = api::bind(addr, token.api_token.as_deref())?;
    let server = Server::start(listener, source, token.api_token.clone())?;
    eprintln!(
        "mirador: serving the API and /metrics on http://{}",
        server.addr()
    );
    Ok(server)
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_interrupt() -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let text = read_data(&args.inventory)?;
    let document = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.inventory.display()))?;
    let view = View::from_document(document)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.inventory.display()))?;
    let server = serve_on(args.listen, &args.token, Source::Stored(Arc::new(view)))?;
    wait_for_interrupt()?;
    drop(server);
    Ok(ExitCode::SUCCESS)
}

fn analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    let common = &args.common;
    // Devices are classified only for an output that shows them (a file,
    // the table, the API), and the rules and the model are loaded only
    // then: compiling the rules' patterns costs more than a small
    // capture's analysis.
    let (kb, model) = if common.shows_inventory() || args.http.listen.is_some() {
        (
            load_knowledge_base(common)?,
            main_model::load_model(common)?,
        )
    } else {
        (fingerprints::kb::KnowledgeBase::default(), None)
    };
    let sensor = Arc::new(build_sensor(common, FlowConfig::offline(), kb, model)?);
    let server = start_server(&args.http, || Source::Running(Arc::clone(&sensor)))?;
    let inputs = sensor::capture::merge::expand_inputs(&args.inputs);
    if !inputs.skipped.is_empty() && !common.quiet {
        eprintln!(
            "mirador: skipped {} files that are not captures in the named directories",
            inputs.skipped.len()
        );
    }
    let show_bar = match args.progress {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => io::stderr().is_terminal() && !common.quiet,
    };
    let console = Console {
        bar: show_bar.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        }),
    };
    let report = sensor.analyze_files(&inputs.files, &console);
    if let Some(bar) = &console.bar {
        bar.finish_and_clear();
    }
    let summary = RunSummary {
        inputs: inputs
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        elapsed_seconds: report.elapsed.as_secs_f64(),
        counts: report.stats,
        dropped_by_kernel: 0,
        dropped_by_mirador: 0,
        input_errors: report.errors.iter().map(ToString::to_string).collect(),
    };
    let code = finish(&sensor, common, &summary, &Mutex::default())?;
    if let Some(server) = server {
        eprintln!(
            "mirador: replay done; serving on http://{} until interrupted",
            server.addr()
        );
        wait_for_interrupt()?;
    }
    Ok(code)
}

/// Writes every output, then the summary. Fails only after trying each
/// output, so one broken sink does not lose the others; exit status 1 when
/// an input failed.
fn finish(
    sensor: &Sensor,
    common: &Common,
    summary: &RunSummary,
    ledger: &Mutex<trust::Ledger>,
) -> Result<ExitCode> {
    let anomalies = sensor.monitor.as_ref().and_then(|m| m.report());
    // The snapshot (and the verdicts and scores in it) only when an output
    // shows it; the summary's trust line reads it too.
    let snapshot = common
        .shows_inventory()
        .then(|| sensor.judged_snapshot(anomalies.as_ref()));
    let outputs = write_outputs(
        sensor,
        common,
        summary,
        snapshot.as_ref(),
        anomalies.as_ref(),
        ledger,
    );
    if !common.quiet {
        print_summary(summary, sensor, snapshot.as_ref());
    }
    outputs?;
    Ok(if summary.input_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes the inventory and the table, and flushes the events. Fails only
/// after trying every output, so one broken sink does not lose the others.
fn write_outputs(
    sensor: &Sensor,
    common: &Common,
    summary: &RunSummary,
    snapshot: Option<&InventorySnapshot>,
    anomalies: Option<&AnomalyReport>,
    ledger: &Mutex<trust::Ledger>,
) -> Result<()> {
    let table = common.shows_table();
    let mut failures = Vec::new();
    if let Some(events) = &sensor.events {
        if let Some(snapshot) = snapshot {
            tell_trust(events, snapshot, ledger);
        }
        if let Err(e) = events.finish() {
            failures.push(format!("events: {e}"));
        }
    }
    if let (Some(path), Some(snapshot)) = (&common.inventory, snapshot) {
        let written = create_output(path).and_then(|mut out| {
            inventory_json::write(&mut out, snapshot, Some(summary), anomalies)?;
            out.flush()?;
            Ok(())
        });
        if let Err(e) = written {
            failures.push(format!("inventory {}: {e:#}", path.display()));
        }
    }
    let to_stdout = |p: &Option<PathBuf>| p.as_deref() == Some(Path::new("-"));
    if let (true, Some(snapshot)) = (table, snapshot) {
        // stdout carries the table unless a machine-readable output is there.
        let result = if to_stdout(&common.events) || to_stdout(&common.inventory) {
            table::write(io::stderr().lock(), snapshot, common.table_rows)
        } else {
            table::write(io::stdout().lock(), snapshot, common.table_rows)
        };
        if let Err(e) = result
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            failures.push(format!("table: {e}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("could not write {}", failures.join("; ")))
    }
}

/// A `trust` event for each device whose score is new or changed since
/// the last time (offline: every device, once, at the end).
fn tell_trust(events: &EventOutput, snapshot: &InventorySnapshot, ledger: &Mutex<trust::Ledger>) {
    let mut buffer = EventBuffer::new(Some(events));
    let mut ledger = ledger
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for change in ledger.changes(snapshot) {
        buffer.trust(&change);
    }
    buffer.flush();
}

/// The closing summary on stderr.
fn print_summary(s: &RunSummary, sensor: &Sensor, snapshot: Option<&InventorySnapshot>) {
    let secs = s.elapsed_seconds.max(1e-6);
    let stats = &s.counts;
    let mut reasons: Vec<String> = stats
        .decode_errors_by_reason()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    if reasons.is_empty() {
        reasons.push("none".into());
    }
    let inputs = match s.inputs.as_slice() {
        [one] => one.clone(),
        many => format!("{} inputs", many.len()),
    };
    eprintln!(
        "mirador: {}: {} packets, {} in {:.2} s ({:.0} packets/s)",
        inputs,
        stats.packets,
        table::human_bytes(stats.bytes),
        secs,
        stats.packets as f64 / secs
    );
    eprintln!(
        "  flows {} (evicted {}), devices {}, remote hosts {}",
        stats.flows.created,
        stats.flows.evicted,
        sensor.inventory.device_count(),
        sensor.inventory.remote_host_count()
    );
    eprintln!(
        "  decode errors {} ({}), non-IP frames {}, later IP fragments {}",
        stats.decode_error_total(),
        reasons.join(", "),
        stats.non_ip,
        stats.later_fragments
    );
    let joined = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let findings: Vec<String> = stats
        .extract
        .findings_by_protocol()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    let parse_errors: Vec<String> = stats
        .extract
        .parse_errors_by_protocol()
        .map(|(p, r, n)| format!("{p} {r} {n}"))
        .collect();
    eprintln!(
        "  identity: {} TCP SYN signatures; findings: {}",
        stats.extract.syn_signatures,
        joined(findings)
    );
    eprintln!(
        "  parse errors {} ({})",
        stats.extract.parse_error_total(),
        joined(parse_errors)
    );
    if let Some(report) = sensor.monitor.as_ref().and_then(|m| m.report()) {
        let c = report.counts;
        let kinds: Vec<String> = report
            .by_type
            .iter()
            .map(|(k, n)| format!("{} {n}", k.name()))
            .collect();
        eprintln!(
            "  anomalies: {} raised, {} folded, {} reported ({}) in {} incidents",
            c.raised,
            c.folded,
            c.reported,
            joined(kinds),
            c.incidents
        );
    }
    if let Some(snapshot) = snapshot {
        let scores: Vec<(u8, String)> = snapshot
            .devices
            .iter()
            .filter_map(|d| Some((d.trust.as_ref()?.score, d.mac.to_string())))
            .collect();
        if let Some((lowest, mac)) = scores.iter().min() {
            eprintln!(
                "  trust: {} devices, {} below 50, lowest {lowest} ({mac})",
                scores.len(),
                scores.iter().filter(|(s, _)| *s < 50).count()
            );
        }
    }
    eprintln!(
        "  dropped: {} by the kernel, {} by mirador",
        s.dropped_by_kernel, s.dropped_by_mirador
    );
    if !s.input_errors.is_empty() {
        eprintln!("  {} input error(s), reported above", s.input_errors.len());
    }
}

fn live(args: LiveArgs) -> Result<ExitCode> {
    let common = &args.common;
    let sensor = Arc::new(build_sensor(
        common,
        FlowConfig::live(),
        load_knowledge_base(common)?,
        main_model::load_model(common)?,
    )?);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    let ledger = Mutex::default();
    // Stops with the capture, once the outputs are written.
    let _server = start_server(&args.http, || Source::Running(Arc::clone(&sensor)))?;
    let checkpoint = |sensor: &Sensor| {
        if common.inventory.is_none() && sensor.events.is_none() {
            return;
        }
        let anomalies = sensor.monitor.as_ref().and_then(|m| m.report());
        let snapshot = sensor.judged_snapshot(anomalies.as_ref());
        if let Some(events) = &sensor.events {
            tell_trust(events, &snapshot, &ledger);
        }
        if let Some(path) = &common.inventory
            && let Err(e) = write_inventory_atomically(path, &snapshot, anomalies.as_ref())
        {
            eprintln!("mirador: {e:#}");
        }
    };
    #[cfg(feature = "libpcap")]
    let backend = match &args.filter {
        Some(filter) => Backend::Libpcap {
            filter: Some(filter),
        },
        None => Backend::AfPacket,
    };
    #[cfg(not(feature = "libpcap"))]
    let backend = Backend::AfPacket;
    let report = sensor.capture_live(&LiveOptions {
        interfaces: &args.interfaces,
        backend,
        stop: &stop,
        duration: args.duration.map(std::time::Duration::from_secs),
        checkpoint_every: std::time::Duration::from_secs(args.inventory_interval.max(1)),
        checkpoint: &checkpoint,
    })?;
    for e in &report.errors {
        eprintln!("mirador: capture stopped on {e}");
    }
    if !common.quiet {
        for (interface, k) in &report.kernel {
            eprintln!(
                "mirador: {interface}: kernel received {} packets, dropped {}",
                k.received, k.dropped
            );
        }
    }
    let summary = RunSummary {
        inputs: args.interfaces.clone(),
        elapsed_seconds: report.elapsed.as_secs_f64(),
        counts: report.stats,
        dropped_by_kernel: report.kernel.iter().map(|(_, k)| k.dropped).sum(),
        dropped_by_mirador: report.dropped,
        input_errors: report.errors.iter().map(ToString::to_string).collect(),
    };
    finish(&sensor, common, &summary, &ledger)
}

/// Replaces the inventory file in one step, so readers never see half of it.
fn write_inventory_atomically(
    path: &Path,
    snapshot: &InventorySnapshot,
    anomalies: Option<&AnomalyReport>,
) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let tmp = path.with_extension("json.tmp");
    let mut out = BufWriter::new(
        File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    inventory_json::write(&mut out, snapshot, None, anomalies)?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
