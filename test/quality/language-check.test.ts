import { beforeAll, describe, expect, it } from 'vitest';
import { fakeProse } from '../../src/emulator/fake-text.js';
import { foreignProse, FOREIGN_LANGUAGES } from '../../src/emulator/fake-foreign-text.js';
import { seededRandom } from '../../src/emulator/seeded-random.js';
import { checkLanguage, detectLanguage, loadLanguageDetector } from '../../src/quality/language-check.js';

/** Product descriptions of 25-35 words, as catalogue jobs write them (not the emulator's sentences). */
const TEXTS: Record<string, string> = {
  en: 'This handcrafted ceramic mug holds 350 ml and keeps your coffee warm for longer thanks to its thick double wall. The matte glaze feels smooth in the hand.',
  fr: 'Cette tasse en céramique faite main contient 350 ml et garde votre café chaud plus longtemps grâce à sa double paroi épaisse. Son émail mat est doux au toucher.',
  de: 'Diese handgemachte Keramiktasse fasst 350 ml und hält Ihren Kaffee dank der dicken Doppelwand länger warm. Die matte Glasur liegt angenehm in der Hand.',
  es: 'Esta taza de cerámica hecha a mano tiene capacidad para 350 ml y mantiene tu café caliente durante más tiempo gracias a su doble pared. El esmalte mate es suave al tacto.',
  it: 'Questa tazza in ceramica fatta a mano contiene 350 ml e mantiene il caffè caldo più a lungo grazie alla doppia parete spessa. Lo smalto opaco è morbido al tatto.',
  nl: 'Deze handgemaakte keramische mok heeft een inhoud van 350 ml en houdt je koffie langer warm dankzij de dikke dubbele wand. Het matte glazuur voelt zacht aan.',
  pt: 'Esta caneca de cerâmica feita à mão leva 350 ml e mantém o seu café quente por mais tempo graças à parede dupla e grossa. O esmalte mate é suave ao toque.',
  pl: 'Ten ręcznie robiony ceramiczny kubek mieści 350 ml i dzięki grubej podwójnej ściance dłużej utrzymuje ciepło kawy. Matowe szkliwo jest przyjemne w dotyku.',
  da: 'Dette håndlavede keramikkrus rummer 350 ml og holder din kaffe varm længere takket være den tykke dobbeltvæg. Den matte glasur føles blød i hånden.',
  sv: 'Den här handgjorda keramikmuggen rymmer 350 ml och håller ditt kaffe varmt längre tack vare den tjocka dubbla väggen. Den matta glasyren känns mjuk i handen.',
};

describe('language check (eld)', () => {
  beforeAll(async () => {
    await loadLanguageDetector();
  });

  it('tells the language of short product descriptions in ten languages, Danish and Swedish apart', () => {
    for (const [code, text] of Object.entries(TEXTS)) expect([code, detectLanguage(text)]).toEqual([code, code]);
    expect(checkLanguage(TEXTS.fr ?? '', 'fr')).toEqual({ check: 'language', passed: true });
    expect(checkLanguage(TEXTS.fr ?? '', 'fr-FR')).toEqual({ check: 'language', passed: true });
    expect(checkLanguage(TEXTS.de ?? '', 'fr')).toEqual({ check: 'language', passed: false, reason: 'written in German (de), not French (fr)' });
  });

  it('passes a text too short to tell, saying so', () => {
    expect(checkLanguage('Oak table, 180 cm.', 'fr')).toEqual({
      check: 'language',
      passed: true,
      reason: 'too short to tell the language (3 words, at least 6 needed)',
    });
  });

  it("places the emulator's replies where a rehearsal expects them: its filler in English, its language fault in that language", () => {
    for (let i = 0; i < 5; i++) expect(detectLanguage(fakeProse(seededRandom(i, 'reply'), 60, 'Describe an oak table'))).toBe('en');
    for (const language of FOREIGN_LANGUAGES) expect(checkLanguage(foreignProse(seededRandom(1, language), language, 40), 'en').passed).toBe(false);
  });
});
