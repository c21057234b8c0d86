import type { Rng } from './seeded-random.js';
import { countTextTokens } from './token-count.js';

/**
 * Real sentences in other languages, for the emulator's `check_faults.language` fault: a reply a
 * real language detector places in that language (not English filler with a few foreign words).
 * Written like the product descriptions catalogue jobs produce, so the fault looks like the slip it
 * rehearses: a model answering in the language of its examples instead of the one asked for.
 */
const SENTENCES = {
  de: [
    'Dieses Produkt verbindet eine schlichte Form mit solider Verarbeitung und eignet sich für den täglichen Gebrauch.',
    'Das robuste Material ist pflegeleicht und behält auch nach vielen Jahren seine Farbe.',
    'Die durchdachte Gestaltung sorgt dafür, dass alles Wichtige schnell zur Hand ist.',
    'Wir haben bei der Herstellung auf nachhaltige Rohstoffe und kurze Transportwege geachtet.',
    'Die angenehme Oberfläche fühlt sich warm an und passt zu fast jeder Einrichtung.',
    'Dank des geringen Gewichts lässt es sich mühelos transportieren und verstauen.',
    'Für die Reinigung genügt ein feuchtes Tuch, aggressive Mittel sind nicht nötig.',
    'Jedes Stück wird vor dem Versand sorgfältig geprüft und sicher verpackt.',
    'Die Größe ist so gewählt, dass es auch in kleinen Wohnungen gut Platz findet.',
    'Viele Kunden schätzen besonders die zuverlässige Qualität und den fairen Preis.',
  ],
  fr: [
    'Ce produit associe une forme sobre à une fabrication soignée et convient parfaitement à un usage quotidien.',
    'Le matériau robuste est facile à entretenir et garde sa couleur pendant de nombreuses années.',
    "Sa conception réfléchie permet de garder l'essentiel toujours à portée de main.",
    'Nous avons choisi des matières premières durables et des circuits de transport courts.',
    "La surface est agréable au toucher et s'accorde avec presque tous les intérieurs.",
    'Grâce à son faible poids, il se transporte et se range sans aucun effort.',
    'Un chiffon humide suffit pour le nettoyer, sans produit agressif.',
    "Chaque pièce est vérifiée avec attention avant d'être emballée et expédiée.",
    'Ses dimensions lui permettent de trouver sa place même dans un petit appartement.',
    'Nos clients apprécient surtout sa qualité fiable et son prix raisonnable.',
  ],
  es: [
    'Este producto combina una forma sencilla con una fabricación cuidada y resulta ideal para el uso diario.',
    'El material resistente es fácil de limpiar y conserva su color durante muchos años.',
    'Su diseño práctico permite tener siempre a mano todo lo necesario.',
    'Hemos elegido materias primas sostenibles y rutas de transporte cortas.',
    'La superficie es agradable al tacto y combina con casi cualquier decoración.',
    'Gracias a su poco peso, se transporta y se guarda sin ningún esfuerzo.',
    'Para limpiarlo basta con un paño húmedo, sin productos agresivos.',
    'Cada pieza se revisa con atención antes de embalarla y enviarla.',
    'Su tamaño está pensado para que quepa bien incluso en un piso pequeño.',
    'Nuestros clientes valoran sobre todo su calidad fiable y su precio justo.',
  ],
  it: [
    "Questo prodotto unisce una forma semplice a una lavorazione accurata ed è perfetto per l'uso quotidiano.",
    'Il materiale resistente si pulisce facilmente e mantiene il suo colore per molti anni.',
    'Il design studiato con cura permette di avere sempre a portata di mano tutto ciò che serve.',
    'Abbiamo scelto materie prime sostenibili e percorsi di trasporto brevi.',
    'La superficie è piacevole al tatto e si abbina a quasi ogni arredamento.',
    'Grazie al peso ridotto si trasporta e si ripone senza alcuna fatica.',
    'Per la pulizia basta un panno umido, senza detergenti aggressivi.',
    'Ogni pezzo viene controllato con attenzione prima di essere imballato e spedito.',
    'Le dimensioni sono pensate per trovare posto anche in un piccolo appartamento.',
    'I nostri clienti apprezzano soprattutto la qualità affidabile e il prezzo onesto.',
  ],
  nl: [
    'Dit product combineert een eenvoudige vorm met een zorgvuldige afwerking en is ideaal voor dagelijks gebruik.',
    'Het stevige materiaal is makkelijk schoon te maken en behoudt jarenlang zijn kleur.',
    'Dankzij het doordachte ontwerp heb je alles wat je nodig hebt altijd bij de hand.',
    'We hebben gekozen voor duurzame grondstoffen en korte transportroutes.',
    'Het oppervlak voelt prettig aan en past bij bijna elk interieur.',
    'Door het lage gewicht is het zonder moeite mee te nemen en op te bergen.',
    'Een vochtige doek is genoeg om het schoon te maken, zonder agressieve middelen.',
    'Elk stuk wordt voor verzending zorgvuldig gecontroleerd en veilig verpakt.',
    'Het formaat is zo gekozen dat het ook in een kleine woning goed past.',
    'Onze klanten waarderen vooral de betrouwbare kwaliteit en de eerlijke prijs.',
  ],
} as const;

export type ForeignLanguage = keyof typeof SENTENCES;
export const FOREIGN_LANGUAGES = Object.keys(SENTENCES) as ForeignLanguage[];

/** At least this many sentences (about 30 words), so a detector has enough text to tell. */
const MIN_SENTENCES = 2;

/** Prose in `language` of about `targetTokens` tokens (never fewer than MIN_SENTENCES sentences). */
export function foreignProse(rng: Rng, language: ForeignLanguage, targetTokens: number): string {
  const bank = SENTENCES[language];
  const order = bank.map((sentence) => ({ sentence, key: rng.next() })).sort((a, b) => a.key - b.key);
  const out: string[] = [];
  let tokens = 0;
  for (let i = 0; out.length < MIN_SENTENCES || tokens < targetTokens; i++) {
    const sentence = order[i % order.length]?.sentence ?? bank[0];
    out.push(sentence);
    tokens += countTextTokens(sentence);
  }
  return out.join(' ');
}
