"""Pythia 8 events for the realistic source (``dataset.source: pythia``): pp collisions at 13 TeV, one chunk of
jets per call with its own seed, truth jets by FastJet anti-kT R = 0.4 on the visible final state, each jet's
flavour from the weakly decaying heavy hadrons near it (or, as the real dataset did, from partons), and the
charged particles of their events, which the tracker turns into tracks (:mod:`.reconstruction`).

Nothing here looks at a reconstructed quantity. Pythia's and FastJet's Python bindings (``pythia8mc``,
``fastjet``) are imported where they are used: the rest of the package never loads them.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import awkward as ak
import numpy as np

from robusttag.config.data import pythia_text, read_pythia_setting
from robusttag.errors import ConfigError, DataFormatError
from robusttag.io import atomic_output

#: Pythia's seeds run from 1 to 900,000,000
MAX_SEED = 900_000_000
#: The processes behind each flavour's jets (Pythia's HardQCD switches): a sample takes its b jets from b-bbar
#: production, its c jets from c-cbar production and its light jets from all QCD 2 -> 2 processes
PROCESSES = {"b": "HardQCD:hardbbbar", "c": "HardQCD:hardccbar", "light": "HardQCD:all"}
#: Settings every chunk gets: the beams with the LHC's luminous region (mm), the generator's output kept quiet,
#: and every particle with c tau up to 1 m decayed by the generator (B, D, K0S, Lambda, ...: the tracker
#: sees their displaced products; charged pions and kaons and the K0L stay)
BASE_SETTINGS = (
    "Beams:eCM = 13000.",
    "Beams:allowVertexSpread = on",
    "Beams:sigmaVertexX = 0.015",
    "Beams:sigmaVertexY = 0.015",
    "Beams:sigmaVertexZ = 46.",
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 1000.",
    "Print:quiet = on",
    "Random:setSeed = on",
)
#: The final state a calorimeter does not see
INVISIBLE = (12, 14, 16)
#: Jet selection, as the real dataset's (its pT range that of the preprocessing's weights)
JET_RADIUS, JET_MIN_PT, JET_MAX_PT, JET_MAX_ABS_ETA = 0.4, 20.0, 900.0, 2.5
#: A heavy hadron labels a jet within this distance, above this transverse momentum (GeV)
LABEL_RADIUS, LABEL_MIN_PT = 0.3, 5.0
#: The real dataset's parton rule: the heaviest quark above this pT within this distance
PARTON_RADIUS, PARTON_MIN_PT = 0.5, 1.0
#: Jet labels, the dataset's convention
B, C, LIGHT = 5, 4, 0
FLAVOURS = {"b": B, "c": C, "light": LIGHT}
#: Charged particles kept for the tracker (its efficiency is zero below 0.1 GeV and beyond |eta| 2.5; tracks
#: enter the dataset from 0.5 GeV)
CHARGED_MIN_PT, CHARGED_MAX_ABS_ETA = 0.4, 2.6
#: Events per call of Pythia's batch generation: the record of a batch is dropped once read (bounded memory)
BATCH_EVENTS = 100
#: A process that gives no jet of its flavour in this many batches in a row is refused (a wrong setting)
BARREN_BATCHES = 20


@dataclass(frozen=True)
class Process:
    """One process of a sample: which hard process, from which pT-hat, with the pT-hat bias that flattens the
    spectrum (``PhaseSpace:bias2Selection``, events selected with probability (pT-hat / pt_hat_min)^power; 0:
    the natural spectrum), and any further Pythia settings (a generator variation's) as ``{"Key:name": value}``.
    """

    name: str
    pt_hat_min: float = 20.0
    pt_hat_bias: float = 4.0
    settings: Mapping[str, object] = field(default_factory=dict)

    def strings(self, seed: int) -> list[str]:
        if self.name not in PROCESSES:
            raise ConfigError(f"unknown Pythia process {self.name!r}; expected one of {', '.join(PROCESSES)}")
        own = [f"{PROCESSES[self.name]} = on", f"PhaseSpace:pTHatMin = {self.pt_hat_min}", f"Random:seed = {seed}"]
        if self.pt_hat_bias > 0:
            own += [
                "PhaseSpace:bias2Selection = on",
                f"PhaseSpace:bias2SelectionPow = {self.pt_hat_bias}",
                f"PhaseSpace:bias2SelectionRef = {self.pt_hat_min}",
            ]
        return [*BASE_SETTINGS, *own, *(f"{key} = {pythia_text(value)}" for key, value in self.settings.items())]


def chunk_seed(sample_seed: int, chunk: int, process: int = 0) -> int:
    """Pythia's seed for one process of one chunk of a sample: drawn from the sample's seed, the chunk's index
    and the process's (the same triple gives the same seed, others independent streams), in Pythia's range.
    """
    state = np.random.SeedSequence(sample_seed, spawn_key=(chunk, process)).generate_state(1)[0]
    return int(state % MAX_SEED) + 1


def configured(process: Process, seed: int, sample: str):
    """A Pythia instance with ``process``'s settings, initialised.

    Raises
    ------
    ConfigError
        On a setting Pythia refuses (:func:`~robusttag.config.data.read_pythia_setting`) or an initialisation that
        fails, naming the sample.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in process.strings(seed):
        key, _, value = (part.strip() for part in line.partition("="))
        read_pythia_setting(pythia, key, value, sample)
    if not pythia.init():
        raise ConfigError(f"sample {sample!r}: Pythia could not initialise with {process.strings(seed)}")
    return pythia


# ---------------------------------------------------------------------------
# Heavy hadrons
# ---------------------------------------------------------------------------


def heavy_flavour(pdg_id: np.ndarray) -> np.ndarray:
    """The heaviest quark of each hadron with open b or c (5 for b, 4 for c, else 0), from its PDG code: the
    quark digits are the tens, hundreds and (baryons) thousands digits. Quarkonia (J/psi, Upsilon: a quark
    and its own antiquark) carry no open flavour and decay without a weak decay; quarks, leptons, bosons,
    diquarks and nuclei give 0.
    """
    code = np.abs(np.asarray(pdg_id, dtype=np.int64))
    hadron = (code >= 100) & (code < 1_000_000_000) & ((code // 10) % 10 != 0)
    first, second, third = (code // 1000) % 10, (code // 100) % 10, (code // 10) % 10
    quarkonium = (first == 0) & (second == third)
    heaviest = np.maximum(np.maximum(first, second), third)
    return np.where(hadron & ~quarkonium & np.isin(heaviest, (B, C)), heaviest, 0)


def weakly_decaying(pdg_id: np.ndarray, mother: np.ndarray) -> np.ndarray:
    """Per particle: a b or c hadron none of whose decay products is a hadron of its heaviest flavour (a B*
    decays to a B, a B to a D: the B is the one that decays weakly, and for c the D). ``mother`` is each
    particle's first mother as an index into the same arrays (0 for none: Pythia's system entry is no mother).
    """
    flavour = heavy_flavour(pdg_id)
    mother = np.asarray(mother, dtype=np.int64)
    child = np.flatnonzero((flavour > 0) & (mother > 0))
    parents = mother[child]
    same = flavour[parents] == flavour[child]
    weak = flavour > 0
    weak[parents[same]] = False
    return weak


# ---------------------------------------------------------------------------
# A batch of events, flat
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FlatEvents:
    """Pythia's record of a batch of events as flat arrays (one entry per particle, events one after the other):
    its event, PDG code, status, first mother (an index into these arrays, 0 for none), momentum (GeV) and
    production point (mm).
    """

    event: np.ndarray
    pdg_id: np.ndarray
    status: np.ndarray
    mother: np.ndarray
    momentum: np.ndarray
    vertex: np.ndarray

    @classmethod
    def of(cls, record: ak.Array) -> FlatEvents:
        counts = ak.to_numpy(ak.num(record))
        event = np.repeat(np.arange(len(counts)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])[event]
        local_mother = ak.to_numpy(ak.flatten(record.mother1)).astype(np.int64)
        momentum = np.stack([ak.to_numpy(ak.flatten(record.p[k])) for k in ("px", "py", "pz")], axis=1)
        vertex = np.stack([ak.to_numpy(ak.flatten(ak.fill_none(record.vProd[k], 0.0))) for k in ("px", "py", "pz")])
        return cls(
            event=event,
            pdg_id=ak.to_numpy(ak.flatten(record.id)).astype(np.int64),
            status=ak.to_numpy(ak.flatten(record.status)),
            mother=np.where(local_mother > 0, local_mother + first, 0),
            momentum=momentum,
            vertex=vertex.T.copy(),
        )

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.momentum[:, 0], self.momentum[:, 1])

    def eta_phi(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        px, py, pz = self.momentum[index].T
        pt = np.hypot(px, py)
        return np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0)), np.arctan2(py, px)


def same_event_pairs(event_a: np.ndarray, event_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j) with event_a[i] == event_b[j], as two index arrays (``event_b`` sorted)."""
    low = np.searchsorted(event_b, event_a, side="left")
    high = np.searchsorted(event_b, event_a, side="right")
    count = high - low
    first = np.repeat(np.arange(len(event_a)), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return first, np.repeat(low, count) + within


def delta_r(eta_a, phi_a, eta_b, phi_b) -> np.ndarray:
    """The distance in (eta, phi), phi's difference wrapped into (-pi, pi]."""
    return np.hypot(eta_a - eta_b, np.angle(np.exp(1j * (phi_a - phi_b))))


# ---------------------------------------------------------------------------
# Truth jets
# ---------------------------------------------------------------------------

#: The fields of :class:`TruthJets`, in the events file
JET_ARRAYS = ("event", "pt", "eta", "phi", "flavor")


@dataclass(frozen=True)
class TruthJets:
    """Jets, flat: each jet's event, pT (GeV), eta, phi and flavour label."""

    event: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    flavor: np.ndarray

    def take(self, index: np.ndarray) -> TruthJets:
        return TruthJets(*(getattr(self, name)[index] for name in JET_ARRAYS))


def jets_of(record: ak.Array, flat: FlatEvents, labels: str = "hadrons") -> TruthJets:
    """Anti-kT R = 0.4 jets on each event's visible final state, 20 < pT < 900 GeV, |eta| < 2.5, by event and
    the hardest first, labelled by :func:`hadron_labels` or :func:`parton_labels` (``labels``).
    ``record``: Pythia's batch record (``nextBatch(...).prt``), ``flat`` the same as :class:`FlatEvents`.
    """
    import fastjet

    final = record[(record.status > 0) & ~_invisible(record.id)]
    momenta = ak.zip({"px": final.p.px, "py": final.p.py, "pz": final.p.pz, "E": final.p.e}, with_name="Momentum4D")
    clustered = fastjet.ClusterSequence(momenta, fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS))
    jets = clustered.inclusive_jets(min_pt=JET_MIN_PT)
    px, py, pz = (ak.to_numpy(ak.flatten(jets[k])) for k in ("px", "py", "pz"))
    event = np.repeat(np.arange(len(jets)), ak.to_numpy(ak.num(jets)))
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    keep = (np.abs(eta) < JET_MAX_ABS_ETA) & (pt < JET_MAX_PT)
    order = np.lexsort((-pt[keep], event[keep]))  # by event, the hardest jet first
    unlabelled = TruthJets(event[keep], pt[keep], eta[keep], np.arctan2(py, px)[keep], event[keep]).take(order)
    label = hadron_labels if labels == "hadrons" else parton_labels
    return TruthJets(*(getattr(unlabelled, n) for n in JET_ARRAYS[:4]), label(flat, unlabelled))


def _invisible(pdg_id) -> ak.Array:
    code = abs(pdg_id)
    return (code == INVISIBLE[0]) | (code == INVISIBLE[1]) | (code == INVISIBLE[2])


def _label_by(flat: FlatEvents, jets: TruthJets, candidates: np.ndarray, flavour: np.ndarray, radius: float):
    """Each jet's label: b if a b candidate lies within ``radius``, else c for a c candidate, else light."""
    index = np.flatnonzero(candidates)
    eta, phi = flat.eta_phi(index)
    near_jet, near = same_event_pairs(flat.event[index], jets.event)  # jets are sorted by event
    close = delta_r(eta[near_jet], phi[near_jet], jets.eta[near], jets.phi[near]) < radius
    labels = np.full(len(jets.event), LIGHT, dtype=np.int8)
    for value in (C, B):  # b overrides c
        hits = near[close & (flavour[index][near_jet] == value)]
        labels[hits] = value
    return labels


def hadron_labels(flat: FlatEvents, jets: TruthJets) -> np.ndarray:
    """Label b if a weakly decaying B hadron of pT > 5 GeV lies within dR < 0.3 of the jet, else c for a C hadron,
    else light: the rule of the LHC experiments since Run 2, which labels a jet by what decays in it.
    """
    weak = weakly_decaying(flat.pdg_id, flat.mother)
    return _label_by(flat, jets, weak & (flat.pt > LABEL_MIN_PT), heavy_flavour(flat.pdg_id), LABEL_RADIUS)


def parton_labels(flat: FlatEvents, jets: TruthJets) -> np.ndarray:
    """Label by the real dataset's rule: b if a b quark (any entry of the record) of pT > 1 GeV lies within
    dR < 0.5, else c for a c quark, else light. Quarks of a gluon splitting near the jet label it too.
    """
    quark = np.abs(flat.pdg_id)
    return _label_by(flat, jets, np.isin(quark, (B, C)) & (flat.pt > PARTON_MIN_PT), quark, PARTON_RADIUS)


# ---------------------------------------------------------------------------
# Charged particles, for the tracker
# ---------------------------------------------------------------------------

#: The fields of :class:`ChargedParticles`, in the events file
PARTICLE_ARRAYS = ("event", "vertex", "momentum", "charge")


@dataclass(frozen=True)
class ChargedParticles:
    """The charged final-state particles of events, flat: their event, production point (mm), momentum (GeV) and
    charge (+-1).
    """

    event: np.ndarray
    vertex: np.ndarray
    momentum: np.ndarray
    charge: np.ndarray

    def take(self, index: np.ndarray) -> ChargedParticles:
        return ChargedParticles(*(getattr(self, name)[index] for name in PARTICLE_ARRAYS))


def charged_of(flat: FlatEvents, charge_of) -> ChargedParticles:
    """Every charged final-state particle above 0.4 GeV within |eta| < 2.6 (what the tracker may see).
    ``charge_of`` maps a PDG code to its charge (Pythia's ``particleData.charge``).
    """
    final = flat.status > 0
    codes = np.unique(flat.pdg_id[final])
    charges = np.array([charge_of(int(code)) for code in codes])
    charge = np.zeros(len(final))
    charge[final] = charges[np.searchsorted(codes, flat.pdg_id[final])]
    eta, _ = flat.eta_phi(np.arange(len(final)))
    keep = np.flatnonzero((charge != 0) & (flat.pt > CHARGED_MIN_PT) & (np.abs(eta) < CHARGED_MAX_ABS_ETA))
    return ChargedParticles(flat.event[keep], flat.vertex[keep], flat.momentum[keep], np.sign(charge[keep]))


# ---------------------------------------------------------------------------
# A chunk: its jets of each flavour and the charged particles of their events
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """What a sample's chunks are made of: the flavour shares of its jets, the pT-hat range and bias, the
    label rule, and the Pythia settings every process gets (a generator variation's).
    """

    shares: Mapping[str, float]
    pt_hat_min: float = 20.0
    pt_hat_bias: float = 4.0
    labels: str = "hadrons"
    settings: Mapping[str, object] = field(default_factory=dict)

    def quotas(self, n_jets: int) -> dict[str, int]:
        """Jets of each flavour in a chunk of ``n_jets``: the shares, rounded so that they add up."""
        names = list(FLAVOURS)
        exact = np.array([self.shares[name] for name in names]) * n_jets / sum(self.shares.values())
        counts = np.floor(exact).astype(int)
        counts[np.argsort(-(exact - counts), kind="stable")[: n_jets - counts.sum()]] += 1
        return dict(zip(names, counts.tolist()))

    def process(self, name: str) -> Process:
        return Process(name, self.pt_hat_min, self.pt_hat_bias, self.settings)


@dataclass(frozen=True)
class TruthChunk:
    """One chunk's jets (in a seeded random order) and the charged particles of their events."""

    jets: TruthJets
    particles: ChargedParticles


def generate_chunk(sample: Sample, sample_seed: int, chunk: int, n_jets: int, name: str) -> TruthChunk:
    """``n_jets`` jets in the sample's flavour shares: each flavour's from its process (:data:`PROCESSES`, its
    own seed from the sample's, the chunk's and its index), taken from Pythia's events batch by batch until
    the flavour's quota is full. The same arguments give the same chunk.
    """
    parts = []
    for index, (flavour, quota) in enumerate(sample.quotas(n_jets).items()):
        if quota:
            seed = chunk_seed(sample_seed, chunk, index)
            parts.append(_jets_of_flavour(sample.process(flavour), FLAVOURS[flavour], quota, seed, sample, name))
    jets, particles = _joined(parts)
    order = np.random.default_rng(np.random.SeedSequence(sample_seed, spawn_key=(chunk, len(FLAVOURS)))).permutation(
        len(jets.event)
    )
    return TruthChunk(jets.take(order), particles)


def _jets_of_flavour(process: Process, flavour: int, quota: int, seed: int, sample: Sample, name: str):
    """The first ``quota`` jets of ``flavour`` in the process's events, and the charged particles of their
    events (events renumbered from 0).

    Raises
    ------
    ConfigError
        When the process gives no such jet in :data:`BARREN_BATCHES` batches in a row (its settings are wrong).
    """
    pythia = configured(process, seed, name)
    jets_found, particles_found, got, barren, events = [], [], 0, 0, 0
    while got < quota:
        record = pythia.nextBatch(BATCH_EVENTS, errorMode="skip").prt
        flat = FlatEvents.of(record)
        jets = jets_of(record, flat, sample.labels)
        jets = jets.take(np.flatnonzero(jets.flavor == flavour)[: quota - got])
        barren = 0 if len(jets.event) else barren + 1
        if barren == BARREN_BATCHES:
            raise ConfigError(
                f"sample {name!r}: {BARREN_BATCHES * BATCH_EVENTS} events of {process.name} in a row gave no "
                f"jet labelled {flavour}; check its Pythia settings {dict(process.settings)}"
            )
        particles = charged_of(flat, pythia.particleData.charge)
        particles = particles.take(np.flatnonzero(np.isin(particles.event, jets.event)))
        jets_found.append(_shifted(jets, events))
        particles_found.append(_shifted(particles, events))
        events += BATCH_EVENTS
        got += len(jets.event)
    return _concatenated(jets_found), _concatenated(particles_found)


def _shifted(part, by: int):
    """A copy of jets or particles with their events numbered ``by`` further on."""
    return type(part)(**{f.name: getattr(part, f.name) for f in fields(part)} | {"event": part.event + by})


def _concatenated(parts: list):
    kind = type(parts[0])
    return kind(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(kind)})


def _joined(parts: list) -> tuple[TruthJets, ChargedParticles]:
    """The processes' jets and particles in one chunk, their events renumbered 0, 1, ... in order."""
    jets, particles = [], []
    offset = 0
    for process_jets, process_particles in parts:
        kept, event = np.unique(process_jets.event, return_inverse=True)
        jets.append(TruthJets(event + offset, *(getattr(process_jets, n) for n in JET_ARRAYS[1:])))
        renumbered = np.searchsorted(kept, process_particles.event) + offset
        particles.append(ChargedParticles(renumbered, *(getattr(process_particles, n) for n in PARTICLE_ARRAYS[1:])))
        offset += len(kept)
    return _concatenated(jets), _concatenated(particles)


# ---------------------------------------------------------------------------
# The events file of a chunk (the detector simulations of a sample read it)
# ---------------------------------------------------------------------------


def generate_events_file(
    path: str | Path, sample: Sample, sample_seed: int, chunk: int, n_jets: int, name: str
) -> None:
    """One chunk of a sample (:func:`generate_chunk`) written to an events file (:func:`write_chunk`)."""
    write_chunk(path, generate_chunk(sample, sample_seed, chunk, n_jets, name))


def write_chunk(path: str | Path, chunk: TruthChunk) -> None:
    """The chunk's truth jets and charged particles in one ``.npz`` file (the particles in single precision), written
    whole or not at all.
    """
    arrays = {f"jet_{n}": getattr(chunk.jets, n) for n in JET_ARRAYS}
    arrays |= {f"particle_{n}": getattr(chunk.particles, n) for n in PARTICLE_ARRAYS}
    for name in (
        "particle_vertex",
        "particle_momentum",
        "particle_charge",
    ):  # single precision is plenty: half the disk
        arrays[name] = arrays[name].astype(np.float32)
    arrays["particle_event"] = arrays["particle_event"].astype(np.int32)
    with atomic_output(path) as tmp, open(tmp, "wb") as sink:
        np.savez(sink, **arrays)


def read_chunk(path: str | Path) -> TruthChunk:
    """A chunk written by :func:`write_chunk`.

    Raises
    ------
    DataFormatError
        When the file is not such a chunk (truncated, or another kind of file), naming it and what is missing.
    """
    expected = [f"jet_{n}" for n in JET_ARRAYS] + [f"particle_{n}" for n in PARTICLE_ARRAYS]
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = [name for name in expected if name not in stored.files]
            if missing:
                raise DataFormatError(path, f"not a Pythia events chunk (no {', '.join(missing)})")
            arrays = {name: stored[name] for name in expected}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataFormatError(
            path, f"cannot read the Pythia events chunk ({error}); delete it to make it again"
        ) from None
    jets = TruthJets(*(arrays[f"jet_{n}"] for n in JET_ARRAYS))
    particles = (arrays[f"particle_{n}"] for n in PARTICLE_ARRAYS)
    return TruthChunk(
        jets, ChargedParticles(*(np.asarray(a, np.float64 if a.dtype.kind == "f" else np.int64) for a in particles))
    )
