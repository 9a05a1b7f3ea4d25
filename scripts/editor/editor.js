// The workspace's code editor: CodeMirror 6 with the languages of our templates, exposed
// to static/workspace.js as window.DevexEditor. scripts/vendor-frontend.sh bundles it.
import { basicSetup } from "codemirror";
import { indentWithTab } from "@codemirror/commands";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";

const languages = {
  py: () => python(),
  js: () => javascript(), mjs: () => javascript(), cjs: () => javascript(),
  jsx: () => javascript({ jsx: true }),
  ts: () => javascript({ typescript: true }), tsx: () => javascript({ jsx: true, typescript: true }),
  json: () => javascript(),
};

function languageFor(path) {
  const dot = path.lastIndexOf(".");
  const make = dot < 0 ? null : languages[path.slice(dot + 1).toLowerCase()];
  return make ? make() : [];
}

window.DevexEditor = {
  // options: label (the accessible name), describedBy (the id of its help text),
  // onChange() when the person edits the text.
  create(parent, options) {
    function state(doc, path, editable) {
      return EditorState.create({
        doc,
        extensions: [
          basicSetup,
          // Tab indents, as coders expect; Escape then Tab still leaves the editor.
          keymap.of([indentWithTab]),
          languageFor(path),
          EditorView.editable.of(editable),
          EditorView.contentAttributes.of({ "aria-label": options.label,
                                            "aria-describedby": options.describedBy }),
          EditorView.updateListener.of((update) => { if (update.docChanged) options.onChange(); }),
        ],
      });
    }
    const view = new EditorView({ parent, state: state("", "", false) });
    return {
      // A fresh state per file, so undo never crosses into another file.
      open(path, text) { view.setState(state(text, path, true)); },
      close() { view.setState(state("", "", false)); },
      text() { return view.state.doc.toString(); },
      focus() { view.focus(); },
    };
  },
};
