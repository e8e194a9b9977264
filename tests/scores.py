"""Tiny four-part scores written to MusicXML with music21, for the chorale loader's tests.

A voice is a list of (pitch name, quarter length) with "r" for a rest; pitches and
rhythms are chosen by the tests, which write out the expected piano rolls by hand.
"""

from pathlib import Path

# A C major cadence; frames (quarter notes) sampled on the beat:
#   frame 0: E5 G4 C4 C3   frame 1: D5 G4 C4 G2   frame 2: C5 G4 C4 C3   frame 3: C5 G4 B3 C3
# (the soprano's C5 eighth at 1.5 is between beats; the tenor's dotted half spans frames 0-2)
C_MAJOR = {
    "Soprano": [("E5", 1.0), ("D5", 0.5), ("C5", 0.5), ("C5", 2.0)],
    "Alto": [("G4", 4.0)],
    "Tenor": [("C4", 3.0), ("B3", 1.0)],
    "Bass": [("C3", 1.0), ("G2", 1.0), ("C3", 2.0)],
}
C_MAJOR_FRAMES = [(76, 67, 60, 48), (74, 67, 60, 43), (72, 67, 60, 48), (72, 67, 59, 48)]

# A minor: i - V - i with the raised leading tone G#, and a rest in the bass at frame 1.
A_MINOR = {
    "Soprano": [("E5", 1.0), ("B4", 1.0), ("A4", 2.0)],
    "Alto": [("C5", 1.0), ("G#4", 1.0), ("A4", 2.0)],
    "Tenor": [("A3", 1.0), ("E4", 1.0), ("C4", 2.0)],
    "Bass": [("A2", 1.0), ("r", 1.0), ("A2", 2.0)],
}


def transposed(voices: dict, semitones: int) -> dict:
    """`voices` with every pitch moved by `semitones` (spelled by music21)."""
    from music21 import pitch

    def move(name):
        return name if name == "r" else pitch.Pitch(name).transpose(semitones).nameWithOctave

    return {part: [(move(n), ql) for n, ql in notes] for part, notes in voices.items()}


def write_score(path: Path, voices: dict, extra_parts: dict | None = None) -> Path:
    """Write `voices` (part name -> notes), then `extra_parts`, as one MusicXML score."""
    from music21 import meter, note, stream

    score = stream.Score()
    for name, notes in {**voices, **(extra_parts or {})}.items():
        part = stream.Part()
        part.partName = name
        part.append(meter.TimeSignature("4/4"))
        for pitch_name, ql in notes:
            part.append(note.Rest(quarterLength=ql) if pitch_name == "r" else note.Note(pitch_name, quarterLength=ql))
        score.insert(0, part)
    score.write("musicxml", fp=str(path))
    return Path(path)
