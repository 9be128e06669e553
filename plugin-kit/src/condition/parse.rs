//! Text → [`Expr`]: a scanner for BFE's tokens and a recursive-descent parser for
//! `CE = CE && CE | CE || CE | ( CE ) | ! CE | primitive(args)`, with C's precedence
//! (`()` > `!` > `&&` > `||`, binary operators left-associative).

use super::primitive::{self, Arg, Literal};
use super::Expr;
use crate::ParseError;

/// Parses and compiles `text`; every primitive is checked against its signature.
pub(crate) fn parse(text: &str) -> Result<Expr, ParseError> {
    let tokens = scan(text)?;
    let mut parser = Parser { tokens, next: 0 };
    let expr = parser.or()?;
    match parser.peek() {
        Token::End => Ok(expr),
        Token::RParen => Err(parser.expected("'&&', '||' or the end (unbalanced ')')")),
        _ => Err(parser.expected("'&&', '||' or the end of the expression")),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Literal(Literal),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
    End,
}

/// A token and its 1-based column in characters.
type Spanned = (Token, usize);

fn scan(text: &str) -> Result<Vec<Spanned>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let pair = |second: char| chars.get(i + 1) == Some(&second);
        let token = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Token::LParen,
            ')' => Token::RParen,
            ',' => Token::Comma,
            '!' => Token::Not,
            '&' if pair('&') => Token::And,
            '|' if pair('|') => Token::Or,
            '&' => return Err(ParseError::new(column, "expected '&&'")),
            '|' => return Err(ParseError::new(column, "expected '||'")),
            '"' => {
                let (value, end) = string(&chars, i)?;
                tokens.push((Token::Literal(Literal::Str(value)), column));
                i = end;
                continue;
            }
            '`' => {
                let Some(len) = chars[i + 1..].iter().position(|&c| c == '`') else {
                    return Err(ParseError::new(column, "unterminated raw string"));
                };
                let value = chars[i + 1..i + 1 + len].iter().collect();
                tokens.push((Token::Literal(Literal::Str(value)), column));
                i += len + 2;
                continue;
            }
            _ if c.is_ascii_digit() || c == '-' => {
                let len = 1 + chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let word: String = chars[i..i + len].iter().collect();
                let Ok(value) = word.parse::<i64>() else {
                    return Err(ParseError::new(
                        column,
                        format!("invalid integer literal {word:?}"),
                    ));
                };
                tokens.push((Token::Literal(Literal::Int(value)), column));
                i += len;
                continue;
            }
            _ if c.is_alphabetic() || c == '_' => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .count();
                let word: String = chars[i..i + len].iter().collect();
                let token = match word.as_str() {
                    "true" => Token::Literal(Literal::Bool(true)),
                    "false" => Token::Literal(Literal::Bool(false)),
                    _ => Token::Ident(word),
                };
                tokens.push((token, column));
                i += len;
                continue;
            }
            _ => {
                return Err(ParseError::new(
                    column,
                    format!("unexpected character {c:?}"),
                ))
            }
        };
        let len = if matches!(token, Token::And | Token::Or) {
            2
        } else {
            1
        };
        tokens.push((token, column));
        i += len;
    }
    tokens.push((Token::End, chars.len() + 1));
    Ok(tokens)
}

/// An interpreted string literal starting at `chars[start] == '"'`, with Go's escapes;
/// returns its value and the index after the closing quote.
fn string(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(ParseError::new(start + 1, "unterminated string literal"));
        };
        match c {
            '"' => return Ok((value, i + 1)),
            '\n' => return Err(ParseError::new(start + 1, "unterminated string literal")),
            '\\' => {
                let (decoded, len) = escape(chars, i)?;
                value.push(decoded);
                i += len;
            }
            _ => {
                value.push(c);
                i += 1;
            }
        }
    }
}

/// The escape at `chars[at] == '\\'`: its character and length.
fn escape(chars: &[char], at: usize) -> Result<(char, usize), ParseError> {
    let column = at + 1;
    let invalid = |what: &str| ParseError::new(column, format!("invalid escape sequence: {what}"));
    let Some(&kind) = chars.get(at + 1) else {
        return Err(ParseError::new(at + 1, "unterminated string literal"));
    };
    let simple = match kind {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, 2));
    }
    let (digits, radix) = match kind {
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        '0'..='7' => (3, 8),
        _ => return Err(invalid(&format!("'\\{kind}'"))),
    };
    let first = if radix == 8 { at + 1 } else { at + 2 };
    let text: String = chars
        .get(first..first + digits)
        .unwrap_or(&[])
        .iter()
        .collect();
    let code = u32::from_str_radix(&text, radix)
        .ok()
        .filter(|_| text.chars().count() == digits);
    // Go's \x and octal escapes are bytes; a byte above 0x7f would make the string
    // invalid UTF-8, which a Rust string cannot hold.
    let byte_escape = kind == 'x' || radix == 8;
    match code.and_then(char::from_u32) {
        Some(c) if !byte_escape || c.is_ascii() => Ok((c, first + digits - at)),
        _ => Err(invalid(&format!(
            "'\\{}'",
            chars[at + 1..(first + digits).min(chars.len())]
                .iter()
                .collect::<String>()
        ))),
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The scanner always ends the list with `End`, and `bump` never passes it.
        &self.tokens[self.next].0
    }

    fn column(&self) -> usize {
        self.tokens[self.next].1
    }

    fn bump(&mut self) -> Spanned {
        let token = self.tokens[self.next].clone();
        if token.0 != Token::End {
            self.next += 1;
        }
        token
    }

    fn expected(&self, what: &str) -> ParseError {
        ParseError::new(self.column(), format!("expected {what}"))
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while *self.peek() == Token::Or {
            self.bump();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while *self.peek() == Token::And {
            self.bump();
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Token::Not => {
                self.bump();
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Token::LParen => {
                self.bump();
                let inner = self.or()?;
                if *self.peek() != Token::RParen {
                    return Err(self.expected("'&&', '||' or ')'"));
                }
                self.bump();
                Ok(inner)
            }
            Token::Ident(_) => self.call(),
            _ => Err(self.expected("a primitive, '(' or '!'")),
        }
    }

    fn call(&mut self) -> Result<Expr, ParseError> {
        let (Token::Ident(name), column) = self.bump() else {
            return Err(self.expected("a primitive"));
        };
        if *self.peek() != Token::LParen {
            return Err(self.expected("'(' after the primitive's name"));
        }
        self.bump();
        let mut args = Vec::new();
        if *self.peek() == Token::RParen {
            self.bump();
        } else {
            loop {
                let Token::Literal(_) = self.peek() else {
                    return Err(self.expected("an argument (a string, an integer, true or false)"));
                };
                if let (Token::Literal(value), column) = self.bump() {
                    args.push(Arg { value, column });
                }
                match self.bump().0 {
                    Token::Comma => {}
                    Token::RParen => break,
                    Token::End => return Err(self.expected("')' or ','")),
                    _ => {
                        self.next -= 1;
                        return Err(self.expected("')' or ','"));
                    }
                }
            }
        }
        primitive::compile(&name, column, args).map(Expr::Primitive)
    }
}

#[cfg(test)]
mod tests;
