/**
 * How a refused role names the line of each problem, for both ends: the server writes each
 * problem of a role it was given as YAML text as `  line 7: spec.allow.logins[0]: …` in the
 * CONFIG_INVALID message (policy/role.ts), which also reads well in a terminal; the web
 * console's role editor reads the lines back to mark them. The error body has no room for
 * structured details, so this one format is the contract, kept in one place.
 *
 * Nothing here may need Node: the browser bundle imports this file.
 */

/** A problem at a line of the role's text (1-based); `text` is the field path and what is wrong. */
export interface LineProblem {
  line: number;
  text: string;
}

/** One problem line of the message: indented, with its line number when the text is known. */
export function problemLine(line: number | undefined, text: string): string {
  return `  ${line === undefined ? '' : `line ${line}: `}${text}`;
}

const LINE = /^ {2}line (\d+): (.*)$/;

/** The problems of a refusal that carry a line number, in the order the server listed them. */
export function lineProblems(message: string): LineProblem[] {
  return message.split('\n').flatMap((l) => {
    const m = LINE.exec(l);
    return m ? [{ line: Number(m[1]), text: m[2]! }] : [];
  });
}
