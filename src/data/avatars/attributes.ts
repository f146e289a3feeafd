// The six binary attributes of a generated face, in label-column order, with the rate at which the
// generator draws each one (src/data/avatars/options.ts) and how a face shows it (labels.ts).

export interface AttributeInfo {
  name: string;
  description: string;
  /** Probability of the attribute in the generated data. */
  rate: number;
  /** A hat covers the hair: the label still says what is underneath, but nothing of it shows. */
  hiddenByHat: boolean;
}

/** The labelled attributes, in label-column order. */
export const ATTRIBUTES: readonly AttributeInfo[] = [
  { name: 'smiling', description: 'mouth smile (vs serious, sad, concerned)', rate: 0.5, hiddenByHat: false },
  { name: 'eyeglasses', description: 'dark-framed glasses', rate: 0.3, hiddenByHat: false },
  { name: 'beard', description: 'a full beard', rate: 0.3, hiddenByHat: false },
  { name: 'hat', description: 'hat, hijab, turban or winter hat (covers the hair)', rate: 0.2, hiddenByHat: false },
  { name: 'blond-hair', description: 'blond or platinum hair (vs black, dark brown, brown, auburn)', rate: 0.4, hiddenByHat: true },
  { name: 'long-hair', description: 'shoulder-length or longer hair (vs short styles)', rate: 0.45, hiddenByHat: true },
];
export const ATTRIBUTE_NAMES: readonly string[] = ATTRIBUTES.map((a) => a.name);

/** The label column of an attribute. */
export function attributeIndex(name: string): number {
  const i = ATTRIBUTE_NAMES.indexOf(name);
  if (i < 0) throw new Error(`unknown avatar attribute "${name}" (known: ${ATTRIBUTE_NAMES.join(', ')})`);
  return i;
}
