// Your Devex REPL. Run it in the terminal with: node index.js

function greet(name) {
  return `Hello, ${name}!`;
}

console.log(greet("Devex"));
