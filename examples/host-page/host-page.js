// Loads herald's embed script and fills in the element's attributes from the page URL:
//   index.html?server=http://localhost:8080&token=…&ref=shift:4711
// so the example runs from any static file server. A real host renders server and token
// into its HTML on the server (README.md): the token is minted there, never in the browser.
(function () {
  var q = new URLSearchParams(location.search);
  var server = (q.get('server') || 'http://localhost:8080').replace(/\/+$/, '');
  var chat = document.getElementById('chat');
  if (q.get('ref')) chat.setAttribute('ref', q.get('ref'));
  chat.setAttribute('server', server);
  if (q.get('token')) chat.setAttribute('token', q.get('token'));
  if (q.get('lang')) chat.setAttribute('lang', q.get('lang'));
  var s = document.createElement('script');
  s.src = server + '/embed/herald-chat.js';
  document.head.appendChild(s);
})();
