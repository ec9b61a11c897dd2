"""Pythia 8 events for the realistic source (``dataset.source: pythia``): pp collisions at 13 TeV, one chunk of
events per call with its own seed, truth jets by FastJet anti-kT R = 0.4 on the visible final state, and
each jet's flavour from the weakly decaying heavy hadrons near it.

The detector (tracks, vertices, the dataset's features) is built on these truth jets elsewhere; nothing
here looks at a reconstructed quantity. Pythia's and FastJet's Python bindings (``pythia8mc``,
``fastjet``) are imported where they are used: the rest of the package never loads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from robusttag.errors import ConfigError

#: Pythia's seeds run from 1 to 900,000,000
MAX_SEED = 900_000_000
#: The processes behind each flavour's jets (Pythia's HardQCD switches)
PROCESSES = {"b": "HardQCD:hardbbbar", "c": "HardQCD:hardccbar", "light": "HardQCD:all"}
#: Settings every chunk gets: the beams, the generator's output kept quiet, K0S and Lambda left to decay in
#: the detector (lifetimes up to 10 mm/c decay in the generator; B and D hadrons among them)
BASE_SETTINGS = (
    "Beams:eCM = 13000.",
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10.",
    "Print:quiet = on",
    "Random:setSeed = on",
)
#: The final state a calorimeter does not see
INVISIBLE = (12, 14, 16)
#: Jet selection, as the real dataset's
JET_RADIUS, JET_MIN_PT, JET_MAX_ABS_ETA = 0.4, 20.0, 2.5
#: A heavy hadron labels a jet within this distance, above this transverse momentum
LABEL_RADIUS, LABEL_MIN_PT = 0.3, 5.0
#: Jet labels, the dataset's convention
B, C, LIGHT = 5, 4, 0


@dataclass(frozen=True)
class Process:
    """One process of a sample: which hard process, from which pT-hat, and any further Pythia settings
    (a generator variation's), as ``{"Key:name": value}``.
    """

    name: str
    pt_hat_min: float = 20.0
    settings: Mapping[str, object] = field(default_factory=dict)

    def strings(self, seed: int) -> list[str]:
        if self.name not in PROCESSES:
            raise ConfigError(f"unknown Pythia process {self.name!r}; expected one of {', '.join(PROCESSES)}")
        own = [f"{PROCESSES[self.name]} = on", f"PhaseSpace:pTHatMin = {self.pt_hat_min}", f"Random:seed = {seed}"]
        return [*BASE_SETTINGS, *own, *(f"{key} = {_text(value)}" for key, value in self.settings.items())]


def chunk_seed(sample_seed: int, chunk: int) -> int:
    """Pythia's seed for one chunk of a sample: drawn from the sample's seed and the chunk's index (the same
    pair gives the same seed, different chunks independent streams), in Pythia's range.
    """
    return int(np.random.SeedSequence(sample_seed, spawn_key=(chunk,)).generate_state(1)[0] % MAX_SEED) + 1


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def configured(process: Process, seed: int, sample: str):
    """A Pythia instance with ``process``'s settings, initialised; a setting Pythia does not know, or a value out of
    its range, is refused (Pythia would otherwise go on with its default).

    Raises
    ------
    ConfigError
        Naming the sample, the key and what Pythia made of it.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in process.strings(seed):
        key, _, value = (part.strip() for part in line.partition("="))
        if not pythia.readString(line):
            settings = pythia.settings
            if any(known(key) for known in (settings.isFlag, settings.isMode, settings.isParm, settings.isWord)):
                raise ConfigError(f"sample {sample!r}: {key} = {value} is outside Pythia's range")
            raise ConfigError(f"sample {sample!r}: Pythia does not know the setting {key!r} (in {line!r})")
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
    """Per particle of one event: a b or c hadron none of whose decay products is a hadron of its heaviest
    flavour (a B* decays to a B, a B to a D: the B is the one that decays weakly, and for c the D).
    ``mother`` is each particle's first mother (Pythia's index, 0 for none).
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
# Truth jets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TruthJets:
    """The jets of a chunk, flat: each jet's event, pT (GeV), eta, phi and flavour label."""

    event: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    flavor: np.ndarray


def jets_of(particles: ak.Array) -> TruthJets:
    """Anti-kT R = 0.4 jets on each event's visible final state (pT > 20 GeV, |eta| < 2.5), labelled b if a
    weakly decaying B hadron of pT > 5 GeV lies within dR < 0.3, else c for a C hadron, else light.
    ``particles``: Pythia's batch record (``nextBatch(...).prt``).
    """
    import fastjet

    final = particles[(particles.status > 0) & ~_invisible(particles.id)]
    momenta = ak.zip({"px": final.p.px, "py": final.p.py, "pz": final.p.pz, "E": final.p.e}, with_name="Momentum4D")
    clustered = fastjet.ClusterSequence(momenta, fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS))
    jets = clustered.inclusive_jets(min_pt=JET_MIN_PT)
    px, py, pz, energy = (ak.to_numpy(ak.flatten(jets[k])) for k in ("px", "py", "pz", "E"))
    event = np.repeat(np.arange(len(jets)), ak.to_numpy(ak.num(jets)))
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    keep = np.abs(eta) < JET_MAX_ABS_ETA
    event, pt, eta, phi = event[keep], pt[keep], eta[keep], phi[keep]
    flavor = _labels(particles, event, eta, phi)
    order = np.lexsort((-pt, event))  # by event, the hardest jet first
    return TruthJets(event[order], pt[order], eta[order], phi[order], flavor[order])


def delta_r(eta_a, phi_a, eta_b, phi_b) -> np.ndarray:
    """The distance in (eta, phi), phi's difference wrapped into (-pi, pi]."""
    return np.hypot(eta_a - eta_b, np.angle(np.exp(1j * (phi_a - phi_b))))


def _invisible(pdg_id) -> ak.Array:
    code = abs(pdg_id)
    return (code == INVISIBLE[0]) | (code == INVISIBLE[1]) | (code == INVISIBLE[2])


def _labels(particles: ak.Array, event: np.ndarray, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Each jet's label from the weakly decaying b and c hadrons of its event."""
    labels = np.full(len(event), LIGHT, dtype=np.int8)
    for index in np.unique(event):
        record = particles[index]
        pdg_id, mother = ak.to_numpy(record.id), ak.to_numpy(record.mother1)
        weak = weakly_decaying(pdg_id, mother)
        px, py, pz = (ak.to_numpy(record.p[k]) for k in ("px", "py", "pz"))
        hadron_pt = np.hypot(px, py)
        candidates = weak & (hadron_pt > LABEL_MIN_PT)
        if not candidates.any():
            continue
        flavour = heavy_flavour(pdg_id)[candidates]
        hadron_eta = np.arcsinh(pz[candidates] / hadron_pt[candidates])
        hadron_phi = np.arctan2(py[candidates], px[candidates])
        jets = np.flatnonzero(event == index)
        near = delta_r(eta[jets, None], phi[jets, None], hadron_eta[None, :], hadron_phi[None, :]) < LABEL_RADIUS
        labels[jets] = np.where(
            (near & (flavour == B)).any(axis=1), B, np.where((near & (flavour == C)).any(axis=1), C, LIGHT)
        )
    return labels


def generate_truth_jets(process: Process, sample_seed: int, chunk: int, n_events: int, sample: str) -> TruthJets:
    """One chunk of ``n_events`` events of ``process`` (seeded by the sample's seed and the chunk) and its
    labelled truth jets.
    """
    pythia = configured(process, chunk_seed(sample_seed, chunk), sample)
    events = pythia.nextBatch(n_events, errorMode="skip")
    return jets_of(events.prt)


# ---------------------------------------------------------------------------
# Charged particles of each jet, for the tracker
# ---------------------------------------------------------------------------

#: A jet's tracks: charged final-state particles within this distance of its axis, above this pT (GeV)
TRACK_RADIUS, TRACK_MIN_PT = 0.4, 0.5


@dataclass(frozen=True)
class JetParticles:
    """The charged final-state particles near each jet, flat: their jet (an index into the chunk's jets),
    production point (mm), momentum (GeV) and charge.
    """

    jet: np.ndarray
    vertex: np.ndarray
    momentum: np.ndarray
    charge: np.ndarray


def charged_near_jets(particles: ak.Array, jets: TruthJets, charge_of) -> JetParticles:
    """Each jet's charged final-state particles with pT above TRACK_MIN_PT within TRACK_RADIUS of its axis
    (a particle near two jets goes to the nearer). ``charge_of`` maps PDG codes to charges (Pythia's particle
    data: ``pythia.particleData.charge``).
    """
    found = []
    for index in np.unique(jets.event):
        record = particles[index]
        pdg_id = ak.to_numpy(record.id)
        final = ak.to_numpy(record.status) > 0
        px, py, pz = (ak.to_numpy(record.p[k]) for k in ("px", "py", "pz"))
        pt = np.hypot(px, py)
        codes = np.unique(pdg_id[final])
        charges = dict(zip(codes.tolist(), (charge_of(int(code)) for code in codes)))
        charge = np.array([charges.get(int(code), 0.0) for code in pdg_id]) * final
        candidate = np.flatnonzero((charge != 0) & (pt > TRACK_MIN_PT))
        if not len(candidate):
            continue
        eta = np.arcsinh(pz[candidate] / pt[candidate])
        phi = np.arctan2(py[candidate], px[candidate])
        own = np.flatnonzero(jets.event == index)
        distance = delta_r(jets.eta[own, None], jets.phi[own, None], eta[None, :], phi[None, :])
        nearest = distance.argmin(axis=0)
        close = distance[nearest, np.arange(len(candidate))] < TRACK_RADIUS
        chosen = candidate[close]
        vertex = np.stack([ak.to_numpy(ak.fill_none(record.vProd[k], 0.0)) for k in ("px", "py", "pz")], axis=1)
        found.append((own[nearest[close]], vertex[chosen], np.stack([px, py, pz], axis=1)[chosen], charge[chosen]))
    if not found:
        return JetParticles(np.zeros(0, int), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
    return JetParticles(*(np.concatenate(parts) for parts in zip(*found)))
