// A stand-in for Langflow's bundle: renders its login page (#/login) or the studio's header,
// the way the single-page app does — after load, and it sets the tab title itself.
function render() {
  const root = document.getElementById("root");
  document.title = "Langflow";
  if (location.hash === "#/login") {
    root.innerHTML = '<div class="login"><form><svg id="langflow-logo" width="40" height="40"></svg>' +
      '<h1 id="heading">Sign in to Langflow</h1>' +
      '<input name="username"><input type="password" name="password">' +
      '<button id="signin" class="bg-primary" type="submit">Sign In</button></form></div>';
  } else {
    root.innerHTML = '<header><svg id="langflow-logo" width="24" height="24"></svg><span id="product">Langflow</span></header>' +
      '<main><button id="new" class="bg-primary">New Flow</button>' +
      '<textarea id="prompt">Langflow stays here</textarea></main>';
  }
}
window.addEventListener("hashchange", render);
setTimeout(render, 10);
